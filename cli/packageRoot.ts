import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The package root: the nearest folder above this file whose package.json is Nudge's (from dist/ or the sources). */
export function packageRoot(): string {
	let dir = __dirname;
	for (;;) {
		const file = join(dir, 'package.json');
		if (existsSync(file) && JSON.parse(readFileSync(file, 'utf8')).name === 'n8n-nodes-nudge' && existsSync(join(dir, 'flows'))) return dir;
		const parent = dirname(dir);
		if (parent === dir) throw new Error('Cannot find the n8n-nodes-nudge package folder');
		dir = parent;
	}
}

/** The installed package's version, as `nudge --version` prints it. */
export function packageVersion(): string {
	return String(JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version);
}
