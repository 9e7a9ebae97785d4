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

/** A fixed-offset time zone whose local hour is in [from, from + 3) right now (a daytime or a night-time contact). */
export function zoneAtLocalHour(from: number, now = new Date()): string {
	const utc = now.getUTCHours();
	for (let offset = -12; offset <= 14; offset++) {
		const local = (utc + offset + 24) % 24;
		if (local >= from && local < from + 3) return offset === 0 ? 'Etc/UTC' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
	}
	throw new Error(`no UTC offset puts the local hour at ${from}`);
}
