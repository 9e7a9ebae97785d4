import type { ArmStats } from './types';

/**
 * The send time's engagement counts as the stores keep them: one learner key per scope and local hour,
 * `hour:<contact>#<h>` and the whole population's `hour:*#<h>` (engine/decide/sendTime.ts reads and adds them).
 */
export interface SendHours {
	/** The contact's engagements at each local hour, 0–23. */
	own: number[];
	/** Everyone's engagements at each local hour. */
	population: number[];
}

export const HOURS = Array.from({ length: 24 }, (_, h) => h);
export const POPULATION_SCOPE = '*';
const hourKey = (scope: string, hour: number) => `hour:${scope}#${hour}`;
/** Built once: a key string hashes once for every Map lookup (bench/decide: a fresh key per lookup cost ~0.2 µs). */
const POPULATION_KEYS = HOURS.map((h) => hourKey(POPULATION_SCOPE, h));

/** The learner key of one scope's hour (a contact id, or `*` for the population). */
export const sendHourKey = (scope: string, hour: number) => (scope === POPULATION_SCOPE ? POPULATION_KEYS[hour] : hourKey(scope, hour));
/**
 * The learner keys holding one contact's engagement hours (erasing the contact deletes them, its export shows them).
 * None for a contact whose id is `*`: its keys are the population's, which hold everyone's counts and no one's in
 * particular. Kept so rather than moving the population to a new key: stores hold `hour:*#<h>` already, and a new key
 * would need a migration in every backend, for one contact id that only shares its hours with everyone.
 */
export const contactHourKeys = (contactId: string) => (contactId === POPULATION_SCOPE ? [] : HOURS.map((h) => hourKey(contactId, h)));
/** Every key of a contact's send hours: its own 24, then the population's. */
export const sendTimeKeys = (contactId: string) => [...HOURS.map((h) => sendHourKey(contactId, h)), ...POPULATION_KEYS];

/** The send hours in counts read by key, `keys` being sendTimeKeys(contactId) (the strings already built: no new ones). */
export function sendHoursIn(stats: Map<string, ArmStats>, keys: string[]): SendHours {
	const counts = keys.map((key) => stats.get(key)?.trials ?? 0);
	return { own: counts.slice(0, HOURS.length), population: counts.slice(HOURS.length) };
}

/** A contact's send hours read by key (getArmStats): the layout every store holds them in. */
export async function readSendHours(store: { getArmStats(keys: string[]): Promise<Map<string, ArmStats>> }, contactId: string): Promise<SendHours> {
	const keys = sendTimeKeys(contactId);
	return sendHoursIn(await store.getArmStats(keys), keys);
}

/**
 * The scope and hour of a send-hour key, or undefined for any other key. The scope is what lies between `hour:` and
 * the last `#` (a contact id may hold `#`); the hour must be written as sendHourKey writes it.
 */
export function sendHourOf(key: string): { scope: string; hour: number } | undefined {
	if (!key.startsWith('hour:')) return undefined;
	const cut = key.lastIndexOf('#');
	if (cut < 5) return undefined;
	const text = key.slice(cut + 1);
	const hour = Number(text);
	return Number.isInteger(hour) && hour >= 0 && hour < 24 && String(hour) === text ? { scope: key.slice(5, cut), hour } : undefined;
}

/** The range of learner keys a scope's hours lie in (with others: the caller keeps those sendHourOf gives the scope). */
export function sendHourRange(scope: string): { from: string; below: string } {
	// Keys compare as their UTF-8 bytes in SQLite (BINARY): every key starting `hour:<scope>#` sorts before `…$`.
	return { from: `hour:${scope}#`, below: `hour:${scope}$` };
}
