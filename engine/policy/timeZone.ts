import { closest } from 'fastest-levenshtein';
import { IANAZone } from 'luxon';

let zoneNames: string[] | undefined;

/**
 * Is this an IANA time zone name ("Europe/Berlin", "UTC", or an alias such as "US/Eastern")? Intl also
 * takes bare offsets ("+03:00"); those are not zone names (no daylight saving), so a name starts with a letter.
 */
export function isTimeZone(name: string): boolean {
	// `create` caches each zone with its validity: this runs for every decision's contact.
	return /^[A-Za-z]/.test(name) && IANAZone.create(name).isValid;
}

/** Zone names are at most about 30 characters: a longer text is cut before it is compared or quoted. */
const MAX_NAME = 64;

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
