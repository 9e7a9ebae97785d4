import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Decision } from '../../engine/audit/schema';
import type { Profile } from '../../engine/profiles/schema';

export function tempDir(prefix = 'nudge-test-'): string {
	return mkdtempSync(join(tmpdir(), prefix));
}

export function profile(contactId: string, extra: Partial<Profile> = {}): Profile {
	const at = '2026-11-01T00:00:00.000Z';
	return { contactId, createdAt: at, updatedAt: at, identities: {}, traits: {}, consent: {}, counters: {}, firstSeenAt: at, lastSeenAt: at, ...extra };
}

export function decision(decisionId: string, extra: Partial<Decision> = {}): Decision {
	const at = extra.createdAt ?? '2026-11-01T00:00:00.000Z';
	return {
		decisionId,
		createdAt: at,
		updatedAt: at,
		policyVersion: 'default@test',
		journey: 'nurture',
		contactId: 'c1',
		status: 'pending',
		event: { eventId: `e-${decisionId}`, source: 'nudge', type: 'track', name: 'Lead Created', occurredAt: at },
		outcomes: [],
		trail: [],
		annotations: {},
		...extra,
	};
}

export function trackEvent(email: string, name: string, extra: Record<string, unknown> = {}) {
	return { type: 'track', name, identities: { email }, ...extra };
}
