import { closest } from 'fastest-levenshtein';

let zoneNames: string[] | undefined;

/** Zone names are at most about 30 characters: a longer text is cut before it is compared or quoted. */
const MAX_NAME = 64;

/**
 * Names already looked up, each with the spelling used for its zone (or null: not a zone). Contacts' zones come
 * from events, so the names are the sender's to choose, and luxon keeps every name it is given for good: this
 * bounded map answers them, and luxon only ever sees one spelling per zone (`spellings`).
 */
const looked = new Map<string, string | null>();
const MAX_LOOKED = 2_000;
/** One spelling per zone, by its lower-case name: only names Intl knows get in (a few hundred, with aliases). */
const spellings = new Map<string, string>();

function zoneSpelling(name: string): string | null {
	// Intl also takes bare offsets ("+03:00"); those are not zone names (no daylight saving), so a name starts with a letter.
	if (name.length > MAX_NAME || !/^[A-Za-z]/.test(name)) return null;
	const lower = name.toLowerCase();
	const known = spellings.get(lower);
	if (known) return known;
	let resolved: string;
	try {
		resolved = runtimeZoneName(name);
	} catch {
		return null;
	}
	// The zone's own spelling when only the case differs ("europe/berlin").
	if (resolved.toLowerCase() === lower) {
		spellings.set(lower, resolved);
		return resolved;
	}
	// An alias keeps its name ("Asia/Kolkata", "US/Eastern"). Written all in lower case (HubSpot's hs_timezone) it is
	// the runtime's name for its zone, and takes no spelling of the alias from the one given properly.
	if (name === lower) return resolved;
	spellings.set(lower, name);
	return name;
}

/** The runtime's own name for the zone a name stands for ("us/eastern" → America/New_York); throws when it is none. */
export const runtimeZoneName = (name: string): string => new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;

/**
 * The zone a name stands for, spelled one way per zone ("europe/berlin" → "Europe/Berlin"), or undefined when it
 * is no IANA time zone. This runs for every decision's contact.
 */
export function timeZoneOf(name: string): string | undefined {
	let zone = looked.get(name);
	if (zone === undefined) {
		zone = zoneSpelling(name);
		if (looked.size >= MAX_LOOKED) looked.clear();
		looked.set(name, zone);
	}
	return zone ?? undefined;
}

/** Is this an IANA time zone name ("Europe/Berlin", "UTC", or an alias such as "US/Eastern")? */
export const isTimeZone = (name: string): boolean => timeZoneOf(name) !== undefined;

/** The known zone nearest by edit distance, for a "did you mean" hint. Intl lists canonical names only: UTC is added. */
export function closestTimeZone(name: string): string {
	zoneNames ??= [...Intl.supportedValuesOf('timeZone'), 'UTC'];
	return closest(name.slice(0, MAX_NAME), zoneNames);
}

/** `"Europe/Berln" is not a time zone; did you mean "Europe/Berlin"?` */
export function notATimeZone(name: string): string {
	const shown = name.length > MAX_NAME ? `${name.slice(0, MAX_NAME)}…` : name;
	return `${JSON.stringify(shown)} is not a time zone; did you mean "${closestTimeZone(name)}"?`;
}
