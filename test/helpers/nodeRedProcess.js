/**
 * A real Node-RED runtime in its own process for the tests that need one (Node-RED 5 loads node modules
 * with import(), which jest's sandbox cannot run). Settings arrive as JSON in NUDGE_NODE_RED_SETTINGS;
 * it listens on a free loopback port, prints "flows started on port N" and stops on SIGTERM.
 */
const http = require('node:http');
const path = require('node:path');

const redPath = require.resolve('node-red');
const RED = require(redPath);
const express = require(require.resolve('express', { paths: [path.dirname(redPath)] }));

async function main() {
	const settings = JSON.parse(process.env.NUDGE_NODE_RED_SETTINGS);
	const app = express();
	const server = http.createServer(app);
	RED.init(server, settings);
	app.use(settings.httpAdminRoot, RED.httpAdmin);
	app.use(settings.httpNodeRoot, RED.httpNode);
	await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
	const started = new Promise((resolve) => RED.events.once('flows:started', resolve));
	await RED.start();
	await started;
	process.stdout.write(`flows started on port ${server.address().port}\n`);
	process.once('SIGTERM', async () => {
		await RED.stop();
		server.close(() => process.exit(0));
	});
}

main().catch((error) => {
	process.stderr.write(`${error.stack || error}\n`);
	process.exit(1);
});
