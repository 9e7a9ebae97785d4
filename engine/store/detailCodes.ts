import { atCap, keptCapped, needsOptIn, notInJourney, optedOut, switchedOff, unreachable, waitDisabled } from '../audit/candidateDetails';
import type { Context } from './fieldCodecs';

/**
 * A candidate's (or a guard check's) `detail` stored as a code when it is one of the sentences of
 * audit/candidateDetails.ts for its channel and journey: the sentence is written again on read. Append only: stored
 * rows hold these indexes.
 */
export const DETAIL_SENTENCES: ((channel: string, journey: string) => string)[] = [switchedOff, unreachable, optedOut, needsOptIn, notInJourney, waitDisabled];

/** Cap sentences carry the counts the candidate does not: stored as [code, count, limit, window]. */
const AT_CAP = DETAIL_SENTENCES.length;
const KEPT_CAPPED = AT_CAP + 1;

type Fields = Record<string, unknown>;

const channelOf = (context: Context, record: Fields) => (typeof record.channel === 'string' ? record.channel : (context.channel ?? ''));
const text = (value: unknown) => (typeof value === 'string' ? value : undefined);

function capSentence(code: number, record: Fields, count: number, limit: number, window: string): string {
	const sentence = atCap(String(record.ruleId), count, limit, window, text(record.freesAt));
	return code === KEPT_CAPPED ? keptCapped(sentence) : sentence;
}

/** Each (channel, journey)'s sentences and their codes, written once (bounded: journeys and channels are few, but any string may come). */
const codesOf = new Map<string, Map<string, number>>();
const CODES_KEPT = 1_000;

function sentenceCodes(channel: string, journey: string): Map<string, number> {
	const key = `${channel}\u0000${journey}`;
	let codes = codesOf.get(key);
	if (!codes) {
		if (codesOf.size >= CODES_KEPT) codesOf.clear();
		codes = new Map();
		// The first code wins where two sentences read the same (decoding writes that code's sentence, the same text).
		for (let code = DETAIL_SENTENCES.length - 1; code >= 0; code--) codes.set(DETAIL_SENTENCES[code]!(channel, journey), code);
		codesOf.set(key, codes);
	}
	return codes;
}

/** The code of `detail`, or `detail` itself when no sentence writes it exactly. */
export function detailToCode(detail: string, context: Context, record: Fields): unknown {
	const code = sentenceCodes(channelOf(context, record), context.journey).get(detail);
	if (code !== undefined) return code;
	if (typeof record.ruleId !== 'string' || !detail.startsWith(`capped: ${record.ruleId} (`)) return detail;
	const counts = /^(\d+) of (\d+) in the (?:current|last) (.*?)\)/.exec(detail.slice(`capped: ${record.ruleId} (`.length));
	if (!counts) return detail;
	const [count, limit, window] = [Number(counts[1]), Number(counts[2]), counts[3]!];
	for (const code of [AT_CAP, KEPT_CAPPED]) if (capSentence(code, record, count, limit, window) === detail) return [code, count, limit, window];
	return detail;
}

export function detailFromCode(stored: unknown, context: Context, record: Fields): string {
	if (typeof stored === 'number') return DETAIL_SENTENCES[stored]!(channelOf(context, record), context.journey);
	if (Array.isArray(stored)) {
		const [code, count, limit, window] = stored as [number, number, number, string];
		return capSentence(code, record, count, limit, window);
	}
	return stored as string;
}
