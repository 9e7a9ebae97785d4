/**
 * The console's masking over HTTP, on decisions made from what an outside sender can put in an event (a public Segment
 * or webhook source): personal data hidden by default, credentials hidden always; and the link `nudge console` prints.
 */
import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { join } from 'node:path';
import { startConsoleServer } from '../../console/server';
import { DecisionConsole } from '../../engine/audit/queries';
import { isCredentialName } from '../../engine/util/credentialNames';
import type { Engine } from '../../engine/engine';
import { redactLinks } from '../../engine/errors';
import { createEngine } from '../../engine/registry';

const POLICY_FILE = join(__dirname, '../../flows/policies/journeys.json');
const T0 = Date.parse('2026-11-20T10:00:00.000Z');
let seq = 0;
/** A Segment track call as a public Segment source delivers it: traits ride in context.traits. */
const track = (userId: string, event: string, minutes: number, traits: Record<string, unknown> = {}) => ({
	type: 'track',
	messageId: `mask-${++seq}`,
	userId,
	event,
	properties: {},
	timestamp: new Date(T0 + minutes * 60_000).toISOString(),
	context: { traits: { timezone: 'Europe/London', ...traits } },
});

const getText = async (base: string, path: string) => {
	const res = await fetch(new URL(path, base));
	expect(res.status).toBe(200);
	return res.text();
};

/** Every decision the console lists, each as api/decisions/<id> answers it (what the page opens). */
async function decisionsShown(events: ReturnType<typeof track>[], revealPii = false): Promise<string[]> {
	const engine: Engine = createEngine({ store: 'memory:', policyFile: POLICY_FILE, clock: 'event' });
	const { url, close } = await startConsoleServer({ console: new DecisionConsole(engine, { revealPii }), port: 0 });
	try {
		for (const event of events) await engine.decide(event, { journey: 'nurture', target: { dryRun: true } });
		const { rows } = JSON.parse(await getText(url, '/api/decisions')) as { rows: { decisionId: string }[] };
		return await Promise.all(rows.map((row) => getText(url, `/api/decisions/${encodeURIComponent(row.decisionId)}`)));
	} finally {
		await close();
		await engine.close();
	}
}

describe('the console hides personal data (the default)', () => {
	test('name traits written as form labels ("First Name", "Last Name", "first-name", "name_first", "Contact Name") are hidden like firstName', async () => {
		const [body] = await decisionsShown([track('u-form', 'Pricing Viewed', 0, { 'First Name': 'Anastasia', 'Last Name': 'Kowalczyk', 'first-name': 'Anastasia', name_first: 'Anastasia', 'Contact Name': 'Anastasia K' })]);
		expect(body).toContain('"First Name"');
		expect(body).not.toContain('Anastasia');
		expect(body).not.toContain('Kowalczyk');
	});

	test("an escalated lead's handoff brief is shown without the contact's name", async () => {
		// A hot lead (pricing, then a demo, a senior title) is escalated to a sales task with a brief naming them.
		const lead = { name: 'Anastasia Kowalczyk', title: 'VP Growth', employees: 300 };
		const bodies = await decisionsShown([track('u-hot', 'Pricing Viewed', 0, lead), track('u-hot', 'Demo Requested', 5)]);
		const escalated = bodies.find((body) => body.includes('"handoff"'));
		expect(escalated).toContain('"name":"[redacted]"');
		expect(escalated).toContain('"summary":"[redacted]: hot lead, score ');
		expect(escalated).not.toContain('Anastasia');
	});

	test('a North American number without a space after the area code, "(415)555-0100", is masked', async () => {
		const [body] = await decisionsShown([track('u-phone', 'Pricing Viewed', 0, { note: 'call me on (415)555-0100' })]);
		expect(body).toContain('call me on [phone redacted]');
		expect(body).not.toContain('555-0100');
	});

	test('identity ids kept as snake_case traits (user_id, anonymous_id) are masked like userId and anonymousId', async () => {
		const [body] = await decisionsShown([track('u-ids', 'Pricing Viewed', 0, { user_id: 'acct-00451-ana', anonymous_id: 'anon-7f3e9c' })]);
		expect(body).toContain('"user_id"');
		expect(body).not.toContain('acct-00451-ana');
		expect(body).not.toContain('anon-7f3e9c');
	});
});

describe('text around a link is shown as it is', () => {
	test('an email after "word:word:" in a note is masked whole, and shown whole with personal data revealed', async () => {
		const note = 'Tue:10:30 call ana.kowalczyk@smallfirm-legal.co.uk';
		const [hidden] = await decisionsShown([track('u-note', 'Pricing Viewed', 0, { note })]);
		expect(hidden).toContain('"note":"Tue:10:30 call [email redacted]"');
		const [shown] = await decisionsShown([track('u-note', 'Pricing Viewed', 0, { note })], true);
		expect(shown).toContain(`"note":"${note}"`);
	});

	test.each([false, true])("a landing page's plain parameters (?keyword=, design=, passengers=) are shown; its access_token and signature are not (revealPii %s)", async (revealPii) => {
		const landing = 'https://shop.example.com/land?keyword=trail+running+shoes&design=b&passengers=2&access_token=at-123&X-Amz-Signature=sig-456';
		const [body] = await decisionsShown([track('u-land', 'Pricing Viewed', 0, { landing })], revealPii);
		expect(body).toContain('https://shop.example.com/land?keyword=trail+running+shoes&design=b&passengers=2&access_token=***&X-Amz-Signature=***');
	});
});

describe('the console hides credentials, also with personal data revealed', () => {
	test.each([false, true])("a login link's token= in a trait is masked (revealPii %s)", async (revealPii) => {
		const [body] = await decisionsShown([track('u-link', 'Pricing Viewed', 0, { magic_link: 'https://app.example.com/login?token=sekret-login-123' })], revealPii);
		expect(body).toContain('https://app.example.com/login?token=***');
		expect(body).not.toContain('sekret-login-123');
	});
});

describe('the link `nudge console` prints', () => {
	test.each([
		[[], '127.0.0.1'],
		[['nudge.example.com'], 'nudge.example.com'],
	])('bound to every interface (--host 0.0.0.0, public hosts %j), it names a host the console answers to: %s', async (publicHosts, shown) => {
		const token = randomBytes(18).toString('base64url');
		const engine = createEngine({ store: 'memory:', policyFile: POLICY_FILE });
		const { url, close } = await startConsoleServer({ console: new DecisionConsole(engine), port: 0, host: '0.0.0.0', token, publicHosts });
		try {
			const page = new URL(url);
			expect(page.hostname).toBe(shown);
			// Asked under the name the link gives (the Host header a browser sends for it), the console answers.
			const status = await new Promise<number | undefined>((resolve, reject) =>
				get({ host: '127.0.0.1', port: page.port, path: '/api/meta', headers: { authorization: `Bearer ${token}`, host: page.host } }, (res) => {
					res.resume();
					resolve(res.statusCode);
				}).on('error', reject),
			);
			expect(status).toBe(200);
		} finally {
			await close();
			await engine.close();
		}
	});
});

describe('redactLinks: the credentials a link carries, in the forms links take', () => {
	test.each([
		['camelCase parameters', 'https://app.example.com/oauth/cb?accessToken=AT-1&refreshToken=RT-2&clientSecret=CS-3&idToken=ey.x.y&state=abc', 'https://app.example.com/oauth/cb?accessToken=***&refreshToken=***&clientSecret=***&idToken=***&state=abc'],
		['a password holding "@"', 'db: postgres://ana:p@ssw0rd@db.example.com:5432/shop', 'db: postgres://ana:***@db.example.com:5432/shop'],
		['a password holding "/"', 'db: postgres://ana:pa/ss99@db.example.com:5432/shop', 'db: postgres://ana:***@db.example.com:5432/shop'],
		["a single-page app's hash route", 'https://app.example.com/#/callback?access_token=AT-1&expires_in=3600', 'https://app.example.com/#/callback?access_token=***&expires_in=3600'],
		['a link in JSON text (escaped slashes)', '{"magic_link":"https:\\/\\/app.example.com\\/login?token=sekret-1"}', '{"magic_link":"https:\\/\\/app.example.com\\/login?token=***"}'],
		["a Java session id in the path", 'https://shop.example.com/cart;jsessionid=0A1B2C?item=9', 'https://shop.example.com/cart;jsessionid=***?item=9'],
		['an email in the query of a link with a port (no user info)', 'https://host.example.com:8080/p?e=a@b.com', 'https://host.example.com:8080/p?e=a@b.com'],
		['a percent-encoded name', 'https://app.example.com/cb?access%5Ftoken=S1', 'https://app.example.com/cb?access%5Ftoken=***'],
		['names with digits', 'https://app.example.com/cb?token2=S2&access_token_2=S3&refresh_token1=S4', 'https://app.example.com/cb?token2=***&access_token_2=***&refresh_token1=***'],
		['names written joined', 'https://app.example.com/cb?accesstoken=S5&clientsecret=S6&idtoken=S7&apikey=S8', 'https://app.example.com/cb?accesstoken=***&clientsecret=***&idtoken=***&apikey=***'],
		['bracketed form names', 'https://shop.example.com/login?user[password]=S9&auth[token]=S10', 'https://shop.example.com/login?user[password]=***&auth[token]=***'],
		["PHP's session id", 'https://shop.example.com/cart.php?PHPSESSID=S11', 'https://shop.example.com/cart.php?PHPSESSID=***'],
		['a link in parentheses', 'Reset it (https://app.example.com/r?token=S12) today', 'Reset it (https://app.example.com/r?token=***) today'],
		['a link before a comma', 'Open https://app.example.com/r?token=S13, then sign in', 'Open https://app.example.com/r?token=***, then sign in'],
		['a link before an ideographic full stop', 'リンク https://app.example.com/r?token=S14。次へ進む', 'リンク https://app.example.com/r?token=***。次へ進む'],
		['a port, then an "@" in the path (no user info)', 'see http://localhost:5678/webhook/@ana and https://www.google.com:443/maps/@51.5,-0.1,15z', 'see http://localhost:5678/webhook/@ana and https://www.google.com:443/maps/@51.5,-0.1,15z'],
	])('%s', (_form, text, shown) => {
		expect(redactLinks(text)).toBe(shown);
	});

	test("a landing page's plain parameters ending in code, key or pass (promo_code, zip_code, sort_key, day_pass) are shown; a bare code= or key= is not", () => {
		const landing = 'https://shop.example.com/land?promo_code=SUMMER20&zip_code=94107&country_code=US&sort_key=price&day_pass=1&code=oauth-1&key=k-2';
		expect(redactLinks(landing)).toBe('https://shop.example.com/land?promo_code=SUMMER20&zip_code=94107&country_code=US&sort_key=price&day_pass=1&code=***&key=***');
	});

	test("a link wrapped in another's parameter (click tracking, a redirect), encoded once or twice, has its own credentials masked; one without any stays as it was", () => {
		const tracked = 'https://click.esp.example/c?u=https%3A%2F%2Fapp.example.com%2Flogin%3Ftoken%3Dabc123%26next%3D%2Fhome&id=9';
		expect(redactLinks(tracked)).toBe('https://click.esp.example/c?u=https%3A%2F%2Fapp.example.com%2Flogin%3Ftoken%3D***%26next%3D%2Fhome&id=9');
		const twice = 'https://x.example/r?u=https%253A%252F%252Fa.example%252F%253Faccess_token%253Dq&x=1';
		expect(redactLinks(twice)).toBe('https://x.example/r?u=https%253A%252F%252Fa.example%252F%253Faccess_token%253D***&x=1');
		const plain = 'https://x.example/r?u=https%3a%2f%2fa.example%2Fpage%3Fplan%3Dpro%26utm_source%3Dmail';
		expect(redactLinks(plain)).toBe(plain);
	});

	test("a link's parameters and a contact's keys are read with one list of credential names (csrf, an MFA code, a bearer, PHP's session cookie)", () => {
		const link = 'https://app.example.com/verify?csrf=c-1&mfa_code=123456&bearer=b-2&PHPSESSID=s-3&plan=pro';
		expect(redactLinks(link)).toBe('https://app.example.com/verify?csrf=***&mfa_code=***&bearer=***&PHPSESSID=***&plan=pro');
		expect(['csrf', 'mfa_code', 'bearer', 'PHPSESSID', 'plan'].filter(isCredentialName)).toEqual(['csrf', 'mfa_code', 'bearer', 'PHPSESSID']);
	});

	test('keys that merely hold "oauth" across their words (coauthor, photoAuthor, video_author) are no credentials', () => {
		expect(['coauthor', 'photoAuthor', 'video_author'].filter(isCredentialName)).toEqual([]);
	});
});
