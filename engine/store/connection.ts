/** Shared by the network stores (Redis, PostgreSQL). */

/**
 * A URL: `scheme:`, up to three slashes (`redis:/host` is a typo worth masking too), then everything up
 * to whitespace or a quote — stopping before a nested URL, so each URL of
 * `split:hot=redis://…;log=postgres://…` is masked on its own.
 */
const URL_LIKE = /\b([a-z][a-z0-9+.-]*:\/{0,3})((?:(?![a-z][a-z0-9+.-]*:\/)[^\s"'`<>])*)/gi;
/** Query parameters that carry a secret (`?password=…`, `&token=…`, `access_token`, `api_key`…). */
const SECRET_PARAM = /([?&;](?:[a-z0-9_.-]*(?:password|passwd|pwd|pass|secret|token|key|auth|signature|sig)[a-z0-9_.-]*)=)[^&;#\s"'`<>]*/gi;

/**
 * The text with every credential inside a URL replaced by *** — the password of each
 * `scheme://user:password@host` (any scheme, any number of URLs; a password may itself contain @ or
 * percent-encoding: the user info ends at the last @ of the authority) and secret query parameters.
 * When in doubt it masks more (`https://host:8080/a@b` shows as `https://host:***@b`), never less.
 * Everything that may quote a store URL (errors, logs, HTTP answers) goes through it.
 */
export function redactUrl(text: string): string {
	return text
		.replace(URL_LIKE, (whole, scheme: string, rest: string) => {
			const authority = rest.slice(0, rest.search(/[/?#]|$/));
			const colon = authority.indexOf(':');
			// A password with an unencoded / ? or # ends the authority early: then its user info ends at the last @ of the URL.
			const at = authority.includes('@') ? authority.lastIndexOf('@') : colon >= 0 ? rest.lastIndexOf('@') : -1;
			return at < 0 || colon < 0 || colon > at ? whole : `${scheme}${rest.slice(0, colon)}:***${rest.slice(at)}`;
		})
		.replace(SECRET_PARAM, '$1***');
}

/** Wait before reconnect attempt `attempt` (1, 2, …): 50 ms doubling up to 2 s. */
export function reconnectDelayMs(attempt: number): number {
	return Math.min(50 * 2 ** Math.max(0, attempt - 1), 2000);
}
