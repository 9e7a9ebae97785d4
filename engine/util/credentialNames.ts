/**
 * Names that say their value is a credential (a password reset token, an API key, a session id), one list for every
 * place that masks by name: trait and profile keys (engine/audit/redact.ts), a link's query parameters in text shown to
 * a reader (engine/errors.ts redactLinks) and a model's feature names (engine/scoring/features.ts).
 */

/** A name's words, lower case, joined by `_`: passwordResetToken, password-reset-token, APIKey, user[password] → password_reset_token, api_key, user_password. */
export const nameWords = (name: string) =>
	name
		.replace(/([a-z\d])([A-Z])/g, '$1_$2')
		.replace(/([A-Z])([A-Z][a-z])/g, '$1_$2')
		.toLowerCase()
		.replace(/[^a-z\d]+/g, '_')
		.replace(/^_+|_+$/g, '');

/** A credential's word among the name's words (`author` or `sessionCount` stay). */
const CREDENTIAL_WORDS = /(?:^|_)(?:tokens?|secrets?|passwords?|passwd|pwd|passphrase|passcode|pin|otp|credentials?|oauth|auth_(?:code|hash|sig|key)|authorization|signatures?|hmac|cookies?|jwt|bearer|csrf|privkey|(?:mfa|backup|recovery|verification)_codes?|(?:api|private|access|signing)_?keys?|session_(?:id|key|token)$)(?:_|$)/;
/**
 * Words that name a credential as a key (`auth_header`, a trait `session`) but not as a link's parameter, where they
 * name ordinary things (a login widget's `auth_mode=popup`, a webinar's `session=keynote-2`).
 */
const KEY_ONLY_WORDS = /(?:^|_)(?:auth(?:_|$)|session$)/;

/**
 * A name written without separators (`passwordresettoken`, `clientsecretprod`, `sessionid`, `PHPSESSID`: HubSpot's
 * property names, many CRMs' exports, PHP's session cookie), where CREDENTIAL_WORDS cannot find the words: a
 * credential's word anywhere in it (not the words that only begin with one: `passwordless`, `sessionIdleMinutes`,
 * `credentialingStatus`, `secretary`), or a short one ending it (`userpwd`, `loginotp`). Common words (pin, key,
 * cookie, bearer) alone are not.
 */
const CREDENTIAL_INSIDE = /token|secret(?!ar|ion)|passw(?:or)?d(?!less)|passphrase|passcode|credential(?!ing)|(?:api|access|private|signing|secret|auth|session|encryption)key|sessionid(?!le)|sessid|session(?:token|cookie)|authcookie|jwt|oauth(?!or)|csrf|privkey|samlresponse|(?:mfa|backup|recovery|verification)codes?/;
const CREDENTIAL_ENDING = /(?:pwd|otp|auth|signatures?|authorization)$/;

/** Both a key's and a link parameter's credential names. */
function namesCredential(name: string, words: string): boolean {
	const compact = name.toLowerCase().replace(/[^a-z\d]+/g, '');
	return CREDENTIAL_WORDS.test(words) || CREDENTIAL_INSIDE.test(compact) || CREDENTIAL_ENDING.test(compact);
}

/** A trait or profile key, or a model's feature, whose value is a credential. */
export function isCredentialName(name: string): boolean {
	const words = nameWords(name);
	return namesCredential(name, words) || KEY_ONLY_WORDS.test(words);
}

/**
 * What a link's parameter alone may be called when it carries one (OAuth's `code=`, an API's `key=`, `sig=`, a
 * session's `sid=`, a CAS `ticket=`); as a key's word they are plain (`promo_code`, `sort_key`, `ticket_id`).
 */
const BARE_PARAM = /^(?:code|key|pass|sig|auth|sid|ticket)$/;

/** A link's query parameter carrying a credential, its name read percent-decoded (`access%5Ftoken`). */
export function isCredentialParam(name: string): boolean {
	let decoded = name;
	try {
		decoded = decodeURIComponent(name);
	} catch {
		// A malformed escape: read as written.
	}
	const words = nameWords(decoded);
	return namesCredential(decoded, words) || BARE_PARAM.test(words);
}
