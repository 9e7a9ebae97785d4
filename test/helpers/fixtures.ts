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

/**
 * A fixed-offset time zone whose local hour is `hour` right now (a daytime or a night-time contact). Exactly that hour:
 * tests expect what a contact did in it to be learned as that hour (the first offset putting it anywhere in the three
 * hours after made the learned hour 12 or 13 instead of 11 between 00:00 and 02:00 UTC).
 */
export function zoneAtLocalHour(hour: number, now = new Date()): string {
	const utc = now.getUTCHours();
	for (let offset = -12; offset <= 14; offset++) {
		if ((utc + offset + 24) % 24 === hour) return offset === 0 ? 'Etc/UTC' : `Etc/GMT${offset > 0 ? '-' : '+'}${Math.abs(offset)}`;
	}
	throw new Error(`no UTC offset puts the local hour at ${hour}`);
}
