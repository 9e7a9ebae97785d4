import { z } from 'zod/v4';
import { NudgeError, describeIssues, type FieldIssue } from '../errors';

/**
 * What one event may hold (docs/webhooks.md#limits). The bounds are checked on the payload as received,
 * before it is validated further, hashed or stored: an oversized or deeply nested event costs no more
 * than a walk up to the first bound it breaks, and is refused naming the field and the limit.
 */
export const EVENT_LIMITS = {
	/** An event name: Nudge `name`, Segment `event` or `name`. */
	nameChars: 200,
	/** An id: eventId / messageId, userId, anonymousId, contactId, hubspotId, salesforceId, previousId, groupId. */
	idChars: 256,
	/** An email address (the longest address SMTP can carry). */
	emailChars: 254,
	/** A key of any object in the event: traits, properties, context and whatever they nest. */
	keyChars: 100,
	/** A string value anywhere in the event. */
	stringChars: 10_240,
	/** Levels of objects and arrays, counting the event as level 0 (`traits` is level 1). */
	depth: 10,
	/** Keys and array items of the event, counted at every level. */
	fields: 1_000,
	/** Characters of all keys and string values of the event together. */
	textChars: 65_536,
	/** An event given as JSON text, e.g. a line of a replay file. */
	jsonBytes: 1_048_576,
	/** Events in one batch (a JSON array or Segment's `{"batch": [...]}`). */
	batchEvents: 1_000,
} as const;

/** Keys that would reach an object's prototype when merged with ordinary assignment. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
export const isForbiddenKey = (key: string) => FORBIDDEN_KEYS.has(key);
const forbiddenKeyProblem = (key: string) => `has the key ${shownKey(key)}: "__proto__", "constructor" and "prototype" are not allowed as keys; rename it`;
/** Half of a UTF-16 pair with no other half: not text, and PostgreSQL refuses it in JSON. */
const LONE_SURROGATE = /\p{Surrogate}/u;

const count = (n: number) => n.toLocaleString('en-US');

export function tooLong(length: number, limit: number): string {
	return `is ${count(length)} characters long; the limit is ${count(limit)}`;
}

/** A string of at most `limit` characters; the message says how long it was. */
export function boundedString(limit: number) {
	return z.string().max(limit, { error: (issue) => tooLong(String(issue.input).length, limit) });
}

/** An id that may come as a number or a string (Segment's userId, HubSpot's objectId). */
export function boundedId() {
	return z
		.union([z.string(), z.number()])
		.refine((v) => typeof v !== 'string' || v.length <= EVENT_LIMITS.idChars, { error: (issue) => tooLong(String(issue.input).length, EVENT_LIMITS.idChars) });
}

/** What makes a string unfit to store (PostgreSQL refuses both in text and JSON), if anything. */
export function encodingProblem(text: string): string | undefined {
	if (text.includes('\0')) return 'contains a NUL character (\\u0000): remove it';
	if (LONE_SURROGATE.test(text)) return 'is not valid Unicode text (half of a surrogate pair, \\uD800–\\uDFFF, on its own): send UTF-8 text';
	return undefined;
}

/**
 * Whether an id from outside (a tool call, a form, an expression) could be one Nudge stored: within the id limit, with
 * no NUL or lone surrogate. One that could not is not looked up: PostgreSQL would refuse it as "the store is down".
 */
export function couldBeStoredId(id: string): boolean {
	return id.length <= EVENT_LIMITS.idChars && !encodingProblem(id);
}

/**
 * A string schema that also refuses what no store can keep (a NUL, a lone surrogate), naming the field: such text
 * would otherwise reach PostgreSQL, fail there and come back as "the store is down".
 */
export function storableText(schema: z.ZodString): z.ZodString {
	return schema.check((ctx) => {
		const problem = encodingProblem(ctx.value);
		if (problem) ctx.issues.push({ code: 'custom', message: problem, input: ctx.value });
	});
}

/**
 * Refuses text no store can keep (a NUL, a lone surrogate) anywhere in what a caller writes into a decision
 * (annotations, a reviewer's name and note, tags, variants), as events are refused: on PostgreSQL it would fail the
 * decision's write after the step was taken. `what` says what was refused, e.g. "Cannot log the decision".
 */
export function checkStorable(value: unknown, what: string): void {
	const issue = storableIssue(value, []);
	if (issue) throw new NudgeError('INVALID_INPUT', `${what}: ${describeIssues([issue])}`, [issue]);
}

function storableIssue(value: unknown, path: string[]): FieldIssue | undefined {
	const at = (message: string): FieldIssue => ({ path: path.length ? path.join('.') : '(root)', message });
	if (typeof value === 'string') {
		const problem = encodingProblem(value);
		return problem ? at(problem) : undefined;
	}
	if (value === null || typeof value !== 'object') return undefined;
	for (const [key, item] of Object.entries(value)) {
		// Copied into the decision's own objects (Object.assign, redaction), "__proto__" would set a prototype, not a key.
		if (isForbiddenKey(key)) return at(forbiddenKeyProblem(key));
		const problem = encodingProblem(key);
		if (problem) return at(`has a key, ${shownKey(key)}, that ${problem}`);
		path.push(key);
		const issue = storableIssue(item, path);
		path.pop();
		if (issue) return issue;
	}
	return undefined;
}

/** What is wrong with a piece of text of the event (a key or a value), if anything. */
function textProblem(text: string, limit: number): string | undefined {
	return text.length > limit ? tooLong(text.length, limit) : encodingProblem(text);
}

/** A key as a message shows it: quoted, and cut short when it is long. */
function shownKey(key: string): string {
	return JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);
}

/**
 * What kind of object a value is, by its tag rather than its prototype: objects made in a sandbox (a Node-RED
 * function node, an n8n Code node) have their own Object and Date.
 */
const tagOf = (value: object) => Object.prototype.toString.call(value).slice(8, -1);
const NOT_DATA = 'which an event cannot carry: send text, numbers, true/false, null, objects or arrays';

/** Walks an event within the bounds; stops at the first one broken. */
class BoundsWalk {
	private fields = 0;
	private text = 0;

	check(value: unknown, path: (string | number)[]): FieldIssue | undefined {
		const at = (message: string): FieldIssue => ({ path: path.length ? path.join('.') : '(root)', message });
		switch (typeof value) {
			case 'string': {
				this.text += value.length;
				const problem = textProblem(value, EVENT_LIMITS.stringChars);
				return problem ? at(problem) : this.textTotal();
			}
			case 'number':
				return Number.isFinite(value) ? undefined : at(`is ${value}, which JSON cannot carry: send a finite number`);
			case 'boolean':
			case 'undefined':
				return undefined;
			case 'object':
				break;
			default:
				return at(`is a ${typeof value}, ${NOT_DATA}`);
		}
		if (value === null) return undefined;
		const tag = tagOf(value);
		if (tag === 'Date') return undefined;
		const isArray = Array.isArray(value);
		if (!isArray && tag !== 'Object') return at(`is a ${tag}, ${NOT_DATA}`);
		if (path.length > EVENT_LIMITS.depth) {
			return at(`is an object or array ${path.length} levels deep (the event is level 0, traits level 1); the limit is ${EVENT_LIMITS.depth}: flatten it`);
		}
		const keys = isArray ? undefined : Object.keys(value as object);
		this.fields += keys ? keys.length : (value as unknown[]).length;
		if (this.fields > EVENT_LIMITS.fields) {
			return at(`takes the event over ${count(EVENT_LIMITS.fields)} fields (keys and array items, counted at every level); the limit is ${count(EVENT_LIMITS.fields)}`);
		}
		if (isArray) {
			const items = value as unknown[];
			for (let i = 0; i < items.length; i++) {
				const issue = this.within(path, i, items[i]);
				if (issue) return issue;
			}
			return undefined;
		}
		for (const key of keys!) {
			if (isForbiddenKey(key)) return at(forbiddenKeyProblem(key));
			const problem = textProblem(key, EVENT_LIMITS.keyChars);
			if (problem) return at(`has a key, ${shownKey(key)}, that ${problem}`);
			this.text += key.length;
			const issue = this.textTotal() ?? this.within(path, key, (value as Record<string, unknown>)[key]);
			if (issue) return issue;
		}
		return undefined;
	}

	/** One path, grown and shrunk as the walk goes: no array per value. */
	private within(path: (string | number)[], step: string | number, value: unknown): FieldIssue | undefined {
		path.push(step);
		const issue = this.check(value, path);
		path.pop();
		return issue;
	}

	private textTotal(): FieldIssue | undefined {
		if (this.text <= EVENT_LIMITS.textChars) return undefined;
		return { path: '(root)', message: `has over ${count(EVENT_LIMITS.textChars)} characters of keys and text in all; the limit is ${count(EVENT_LIMITS.textChars)}` };
	}
}

/** Refuses an event that breaks a bound, naming the field and the limit; `what` names the event in the message. */
export function checkEventBounds(raw: Record<string, unknown>, what = 'Event'): void {
	const issue = new BoundsWalk().check(raw, []);
	if (issue) throw new NudgeError('INVALID_EVENT', `${what} is not valid: ${describeIssues([issue])}`, [issue]);
}

/** Refuses a batch of more events than a request may carry, before any is looked at. */
export function checkBatchSize(size: number): void {
	if (size > EVENT_LIMITS.batchEvents) {
		throw new NudgeError('INVALID_EVENT', `The batch has ${count(size)} events; the limit is ${count(EVENT_LIMITS.batchEvents)}. Send smaller batches; nothing was stored`, [
			{ path: '(root)', message: `has ${count(size)} events; the limit is ${count(EVENT_LIMITS.batchEvents)}` },
		]);
	}
}

/** Refuses event JSON text over the size bound before it is parsed. */
export function checkJsonSize(text: string): void {
	// A UTF-16 unit is at most 3 bytes of UTF-8: short text needs no count.
	if (text.length <= EVENT_LIMITS.jsonBytes / 3) return;
	const bytes = Buffer.byteLength(text);
	if (bytes > EVENT_LIMITS.jsonBytes) {
		throw new NudgeError('INVALID_EVENT', `The event is ${count(bytes)} bytes of JSON; the limit is ${count(EVENT_LIMITS.jsonBytes)}`);
	}
}
