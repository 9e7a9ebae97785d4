import { z } from 'zod/v4';
import { CHANNELS, ChannelSchema } from '../channels';
import { describeIssues, issuesFromZod, NudgeError } from '../errors';
import { storableText } from '../events/limits';
import { contentHash } from '../ids';
import { identityKey, profileById } from '../profiles/profiles';
import { IDENTITY_KINDS, IdentityKind, Profile } from '../profiles/schema';
import type { Store } from '../store/types';

/**
 * An action an agent proposes (DESIGN §12): who asks, under which idempotency key, about whom, on which channel
 * (or "choose"), with which message. Every size is bounded: a request is model output, and may be hostile.
 */
export const AGENT_LIMITS = { agentId: 128, idempotencyKey: 200, identity: 320, journey: 128, name: 64, tags: 20, subject: 500, text: 20_000, approvalId: 300 } as const;

// Text an agent wrote must be storable on every backend: a NUL once failed the PostgreSQL write after the cap slot was taken.
const text = (max: number) => storableText(z.string().max(max, `must be at most ${max} characters`));
const bounded = (max: number) => storableText(z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`));

// Ids are exact, as ingest keeps them (" x" and "x" are two contacts); only an email address is trimmed, as no stored one has spaces.
const exactId = storableText(z.string().min(1, 'must not be empty').max(AGENT_LIMITS.identity, `must be at most ${AGENT_LIMITS.identity} characters`));
const ContactObjectSchema = z
	.object(Object.fromEntries(['contactId', ...IDENTITY_KINDS].map((k) => [k, (k === 'email' ? bounded(AGENT_LIMITS.identity) : exactId).optional()])) as Record<'contactId' | IdentityKind, z.ZodOptional<z.ZodString>>)
	.strict()
	.refine((c) => Object.values(c).some((v) => v !== undefined), { message: `name the contact by at least one of contactId, ${IDENTITY_KINDS.join(', ')}` });

/** The schema a tool publishes says what is accepted: a string (contact id, or email with an @) or the object. */
export const ContactSchema = z
	.union([exactId, ContactObjectSchema], { error: `must be a contact id, an email address, or an object of identities (contactId, ${IDENTITY_KINDS.join(', ')})` })
	.transform((c): z.output<typeof ContactObjectSchema> => (typeof c === 'string' ? (c.includes('@') ? { email: c.trim() } : { contactId: c }) : c))
	.meta({ description: 'A contact id or an email address, or an object of identities (contactId, email, userId, hubspotId…)' });

export const ActionMessageSchema = z
	.object({
		/** e.g. "promotional", "transactional": caps, quiet hours and exemptions read it. */
		category: bounded(AGENT_LIMITS.name).optional(),
		tags: z.array(bounded(AGENT_LIMITS.name)).max(AGENT_LIMITS.tags, `must have at most ${AGENT_LIMITS.tags} tags`).optional(),
		/** The offer's value (e.g. percent off): review and approval rules compare it. */
		offerValue: z.number().finite().min(0).max(1_000_000_000).optional(),
		variant: bounded(AGENT_LIMITS.name).optional(),
		subject: text(AGENT_LIMITS.subject).optional(),
		text: text(AGENT_LIMITS.text).optional(),
	})
	.strict();
export type ActionMessage = z.infer<typeof ActionMessageSchema>;

export const ActionRequestSchema = z
	.object({
		agentId: bounded(AGENT_LIMITS.agentId).regex(/^[\w.:@/-]+$/, 'may hold letters, digits and . _ : @ / - only'),
		idempotencyKey: bounded(AGENT_LIMITS.idempotencyKey),
		/** A contact id or an email address, or an object of identities (contactId, email, userId, hubspotId…). */
		contact: ContactSchema,
		journey: bounded(AGENT_LIMITS.journey).optional(),
		channel: z.union([ChannelSchema, z.literal('choose')], { message: `must be one of ${CHANNELS.join(', ')}, or "choose"` }).default('choose'),
		message: ActionMessageSchema.default({}),
		/** Answer only: nothing is reserved, claimed, sent or logged. */
		dryRun: z.boolean().default(false),
		approvalId: bounded(AGENT_LIMITS.approvalId).optional(),
	})
	.strict();
export type ActionRequestInput = z.input<typeof ActionRequestSchema>;
export type ActionRequest = z.infer<typeof ActionRequestSchema>;

export function parseActionRequest(input: unknown): ActionRequest {
	if (!input || typeof input !== 'object' || Array.isArray(input)) {
		throw new NudgeError('INVALID_INPUT', 'An action request is a JSON object with agentId, idempotencyKey, contact, channel and message');
	}
	const parsed = ActionRequestSchema.safeParse(input);
	if (!parsed.success) {
		const issues = issuesFromZod(parsed.error);
		throw new NudgeError('INVALID_INPUT', `The action request is not valid, so nothing was done: ${describeIssues(issues)}`, issues);
	}
	return parsed.data;
}

/** What an approval is bound to: the contact, journey, requested channel and every message field. */
export function requestHash(request: ActionRequest, contactId: string, journey: string): string {
	return contentHash({ contactId, journey, channel: request.channel, message: request.message }, 32);
}

/**
 * The profile a request's contact names. A bare string is a contact id, or an email address when it has an @;
 * every identity given must lead to the same contact. Agents act on known contacts only: none is created.
 */
export async function resolveActionContact(store: Store, contact: ActionRequest['contact']): Promise<Profile> {
	const given: Partial<Record<'contactId' | IdentityKind, string>> = contact;
	const found = new Set<string>();
	const keys = IDENTITY_KINDS.flatMap((kind) => (given[kind] ? [identityKey(kind, given[kind])] : []));
	const resolved = keys.length ? await store.resolveIdentities(keys) : new Map<string, string>();
	const missing = keys.filter((k) => !resolved.has(k));
	for (const id of resolved.values()) found.add(id);
	// A contact id merged into another contact names that contact.
	if (given.contactId) found.add((await profileById(store, given.contactId))?.contactId ?? given.contactId);
	const described = Object.entries(given).map(([k, v]) => `${k} ${v}`).join(', ');
	if (missing.length || found.size !== 1) {
		const why = found.size > 1 ? 'its identities belong to different contacts' : 'no contact has it';
		throw new NudgeError('UNKNOWN_CONTACT', `Cannot act on ${described}: ${why}. Agents act only on contacts Nudge already knows from their events: check the id or address, and do not retry it as it is`, [], 404);
	}
	const profile = await store.getProfile([...found][0]);
	if (!profile) throw new NudgeError('UNKNOWN_CONTACT', `Cannot act on ${described}: no contact has it. Agents act only on contacts Nudge already knows from their events: check the id or address, and do not retry it as it is`, [], 404);
	return profile;
}
