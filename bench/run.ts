import { benchDecide } from './decide';

/** `npm run bench`: every benchmark, one after another, in this process. */
async function main(): Promise<void> {
	await benchDecide();
}

main().catch((error) => {
	process.stderr.write(`${error.stack ?? error}\n`);
	process.exit(1);
});
