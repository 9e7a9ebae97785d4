import { isCredentialParam } from './util/credentialNames';

/**
 * Errors a marketer can act on. Every engine entry point throws NudgeError (never a raw stack)
 * with a stable code, a plain-language message and, for validation errors, the offending fields.
 */
export type NudgeErrorCode =
	| 'INVALID_EVENT'
	| 'INVALID_POLICY'
	| 'INVALID_INPUT'
	| 'INVALID_CONFIG'
	| 'UNKNOWN_CONTACT'
	| 'UNKNOWN_DECISION'
	| 'BAD_SIGNATURE'
	| 'NOT_RESERVED'
	| 'CONFLICT'
	| 'STORE_ERROR';

export interface FieldIssue {
	path: string;
	message: string;
}

export class NudgeError extends Error {
	readonly code: NudgeErrorCode;
	readonly issues: FieldIssue[];
	/** HTTP status a webhook should answer with when this error rejects a request. */
	readonly httpStatus: number;
	/** Extra facts for a machine reader, e.g. which events of a batch were invalid. */
	readonly details: Record<string, unknown>;

	/** Messages end up in logs, HTTP answers and editors: a password inside a quoted URL is masked here, once. */
	constructor(code: NudgeErrorCode, message: string, issues: FieldIssue[] = [], httpStatus = 400, details: Record<string, unknown> = {}) {
		super(redactUrl(message));
		this.name = 'NudgeError';
		this.code = code;
		this.issues = issues.map((issue) => ({ ...issue, message: redactUrl(issue.message) }));
		this.httpStatus = httpStatus;
		this.details = details;
	}

	/** Platforms show `String(error)`: a marketer should read the message, not a class name. */
	override toString(): string {
		return this.message;
	}
}

/** Turns zod issues into "field: reason" lines that name the offending field. */
interface ZodIssueLike {
	path: PropertyKey[];
	message: string;
	code?: string;
	errors?: ZodIssueLike[][];
}

/** A union's issue, said by the one alternative the value's type matched ("contact.email: …", not "Invalid input"). */
function unionIssues(issue: ZodIssueLike): ZodIssueLike[] {
	const matched = issue.code === 'invalid_union' ? (issue.errors ?? []).filter((branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === 0)) : [];
	return matched.length === 1 ? matched[0].flatMap((i) => unionIssues({ ...i, path: [...issue.path, ...i.path] })) : [issue];
}

export function issuesFromZod(error: { issues: ZodIssueLike[] }): FieldIssue[] {
	return error.issues.flatMap(unionIssues).map((issue) => ({
		path: issue.path.length ? issue.path.map(String).join('.') : '(root)',
		message: issue.message,
	}));
}

/**
 * A zod error map for numbers: zod says "expected number, received number" of Infinity and NaN (objects from code
 * and numbers read from text can hold them; JSON cannot). Pass it as `safeParse(raw, { error: finiteNumbers })`.
 */
export const finiteNumbers = (issue: { code?: string; expected?: string; input?: unknown }): string | undefined =>
	issue.code === 'invalid_type' && issue.expected === 'number' && typeof issue.input === 'number' ? `must be a finite number (got ${issue.input})` : undefined;

export function describeIssues(issues: FieldIssue[]): string {
	return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}

/**
 * A URL with user info: `scheme:`, up to three slashes (`redis:/host` is a typo worth masking too), `user:`,
 * then the rest of the line: the password may hold spaces, quotes or @, so where it ends is only known from the
 * last @ (redactUrl). Both stop before a nested URL, so each URL of `split:hot=redis://…;log=postgres://…` is
 * masked on its own.
 */
// A scheme is looked for only where a run of scheme characters starts (the lookbehinds): tried inside a run, each
// try would scan the rest of it again, and a long run (an error quoting 50 KB of "a.a.a…") took seconds.
const URL_WITH_USER = /(?<![a-z0-9+.-])([a-z][a-z0-9+.-]*:\/{0,3}(?:(?!(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:\/)[^\s:@/?#"'`<>])*:)((?:(?!(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:\/)[^\r\n])*)/gi;
/**
 * Up to the last @ that can end user info: one followed by a host, a socket path, a port or nothing (`u:pw@/db?host=/run`,
 * `u:pw@:5432`, `u:pw@$HOST`, `u:pw@` at the end), not the "@ as %40" of a hint further on the line.
 */
const USER_INFO_END = /^.*@(?=[^\s"'`<>@]|$)/;
/** A query parameter's name (`?name=`, `&name=`, `;name=`), read once, then checked for a secret's word. */
const PARAM_NAME = /[?&;]([a-z0-9_.-]*)=/gi;
const PARAM_VALUE = /[^&;#\s"'`<>]*/y;
/** Parameter names that carry a secret (`password`, `token`, `access_token`, `api_key`…). */
const SECRET_NAME = /password|passwd|pwd|pass|secret|token|key|auth|signature|sig/i;

/** The text with the value of every secret query parameter replaced by ***; other parameters are read past, not over. */
function maskSecretParams(text: string): string {
	let out = '';
	let from = 0;
	PARAM_NAME.lastIndex = 0;
	for (let m = PARAM_NAME.exec(text); m; m = PARAM_NAME.exec(text)) {
		if (!SECRET_NAME.test(m[1])) continue;
		const value = PARAM_NAME.lastIndex;
		PARAM_VALUE.lastIndex = value;
		PARAM_VALUE.exec(text);
		out += `${text.slice(from, value)}***`;
		from = PARAM_NAME.lastIndex = PARAM_VALUE.lastIndex;
	}
	return out + text.slice(from);
}

/**
 * The text with every credential inside a URL replaced by *** — the password of each
 * `scheme://user:password@host` (any scheme, any number of URLs; whatever characters a password holds:
 * the user info ends at the last @ before a host on the line, up to the next URL) and secret query parameters.
 * When in doubt it masks more (`https://host:8080/a@b` shows as `https://host:***@b`, and so does
 * `https://host:8080 for a@b`), never less. Everything that may quote a store URL (errors, logs, HTTP
 * answers) goes through it.
 */
export function redactUrl(text: string): string {
	return maskSecretParams(
		text.replace(URL_WITH_USER, (whole, user: string, rest: string) => {
			const info = USER_INFO_END.exec(rest)?.[0];
			return info ? `${user}***${rest.slice(info.length - 1)}` : whole;
		}),
	);
}

/**
 * A link's place in free text (a trait, a note, a payload kept as text): a scheme with `//` (or `\/\/`, as JSON escapes
 * it), looked for only where a run of scheme characters starts (as URL_WITH_USER, so a long run costs one scan), then
 * up to a space or a quote.
 */
const LINK = /(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:(?:\/\/|\\\/\\\/)[^\s"'`<>]+/gi;
/** A link's user and the `:` before its password: the password runs to the last `@` before the query (it may hold `@` or `/`). */
const LINK_USER = /^[a-z][a-z0-9+.-]*:(?:\/\/|\\\/\\\/)[^/\\?#@:]*:/i;
/**
 * A parameter (after `?`, `#`, `&` or `;`, also a path's `;jsessionid=`): its name never crosses another `?`, so each is
 * read once; its value is what a token is made of (so a `)`, `,` or `。` after the link stays), never ending in a `.`
 * (`*`: a value masked already, masked again, stays `***`).
 */
const LINK_PARAM = /([?#&;])([^=&;#?/\\]*)=((?:[\w\-.~%+/=*]*[\w\-~%+/=*])?)/g;
// Which parameters carry a credential: isCredentialParam, the list trait keys are read with, and a bare code, key, pass, sig or auth.

/**
 * Free text with the credentials of the links in it masked (`https://app.example.com/login?token=***`,
 * `https://user:***@host`), for what a reader is shown of a contact or a decision; the text around the links is left
 * as it is (redactUrl, for messages that may quote a store's own URL, masks more).
 */
export function redactLinks(text: string): string {
	return text.includes('//') || text.includes('\\/\\/') ? text.replace(LINK, maskLink) : text;
}

function maskLink(link: string): string {
	// A port (`host:5678/…`) is no user info, whatever `@` the path holds.
	const user = LINK_USER.exec(link)?.[0];
	const port = user !== undefined && /^\d+(?:[/\\?#]|$)/.test(link.slice(user.length));
	// The last @ before the query or fragment (a password's own ? or # is percent-encoded; an email in the query is not user info).
	const query = link.search(/[?#]/);
	const at = user && !port ? link.lastIndexOf('@', query === -1 ? link.length : query) : -1;
	const masked = user && at > user.length ? `${user}***${link.slice(at)}` : link;
	return masked.replace(LINK_PARAM, (whole, sep: string, name: string, value: string) => (isCredentialParam(name) ? `${sep}${name}=***` : `${sep}${name}=${maskNestedLink(value)}`));
}

/** A parameter's value that is a link written percent-encoded (`https%3A%2F%2F`, or encoded again: `https%253A…`): a click-tracking or redirect wrapper's. */
const ENCODED_LINK = /^[a-z][a-z0-9+.-]*%(?:25)*3A%(?:25)*2F%(?:25)*2F/i;

/**
 * A link wrapped in another's parameter (an email provider's click tracking: `?u=https%3A%2F%2Fapp…%3Ftoken%3D…`, an
 * OAuth `redirect_uri`) has its own credentials masked, read decoded (as often as it was encoded) and written back
 * encoded. Each level of encoding makes the text longer, so the depth is bounded by the length.
 */
function maskNestedLink(value: string): string {
	if (!ENCODED_LINK.test(value)) return value;
	let decoded: string;
	try {
		decoded = decodeURIComponent(value);
	} catch {
		return value;
	}
	const inner = ENCODED_LINK.test(decoded) ? maskNestedLink(decoded) : redactLinks(decoded);
	return inner === decoded ? value : encodeURIComponent(inner);
}
