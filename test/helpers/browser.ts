/** Headless Debian Chromium for the browser tests, driven by playwright-core (which downloads no browser). */
import { existsSync } from 'node:fs';
import { BrowserContext, chromium } from 'playwright-core';
import { tempDir } from './fixtures';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * `describe` when Chromium is installed. Otherwise the suite is skipped with a loud message on a
 * developer's machine, and fails under CI (CI=true), where `.ci/run` installs it.
 */
export function describeWithChromium(): jest.Describe {
	if (existsSync(CHROMIUM)) return describe;
	const message = `${CHROMIUM} is missing: the decision console browser tests are SKIPPED. Install Debian's chromium package (apt-get install chromium; .ci/run does).`;
	if (process.env.CI === 'true' || process.env.CI === '1') {
		return ((name: string) =>
			describe(name, () => {
				test('Chromium is required under CI', () => {
					throw new Error(message);
				});
			})) as unknown as jest.Describe;
	}
	process.stderr.write(`\n*** ${message} ***\n\n`);
	return describe.skip;
}

/** A fresh profile every time; no network beyond what the test serves (no QUIC, no background fetches). */
export function launchChromium(): Promise<BrowserContext> {
	return chromium.launchPersistentContext(tempDir('nudge-chromium-'), {
		executablePath: CHROMIUM,
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
		viewport: { width: 1280, height: 900 },
	});
}
