/**
 * Errors a marketer can act on. Every engine entry point throws NudgeError (never a raw stack)
 * with a stable code, a plain-language message and, for validation errors, the offending fields.
 */
import { redactUrl } from './store/connection';

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

export function describeIssues(issues: FieldIssue[]): string {
	return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}
