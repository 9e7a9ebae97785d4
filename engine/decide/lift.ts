import { converted, Decision, DecisionSchema, Outcome, OutcomeSchema } from '../audit/schema';
import { NudgeError, describeIssues, issuesFromZod } from '../errors';

/** The 97.5th percentile of the standard normal: two-sided 95% intervals. */
const Z95 = 1.959963984540054;

export interface Interval {
	estimate: number;
	low: number;
	high: number;
}

export interface GroupRate {
	/** Decisions in the group (each reached Choose Channel). */
	n: number;
	/** Decisions with at least one outcome their journey counts as a conversion. */
	conversions: number;
	rate: number;
	/**
	 * Distinct contacts in the group. The holdout assigns contacts, not decisions, so a contact's decisions are not
	 * independent trials: the small-sample warning counts contacts. Absent when only decision counts are known.
	 */
	contacts?: number;
	/** The sample size the intervals use: `n` discounted for one contact's decisions going alike (effectiveSampleSize). */
	effectiveN?: number;
}

export interface LiftRow {
	journey: string;
	/** `all` (every treated decision, sent or not: the experiment's answer) or one channel that sent (descriptive). */
	arm: string;
	treated: GroupRate;
	holdout: GroupRate;
	/** treated rate − holdout rate; 95% Newcombe hybrid score interval. */
	absolute?: Interval;
	/** treated rate ÷ holdout rate − 1; 95% Katz log interval. Absent when either group has no conversions. */
	relative?: Interval;
	/** The absolute interval excludes zero. */
	significant: boolean;
	/** Why there is no interval (`absolute` absent): a group is empty, and which. */
	unavailable?: string;
	/** Set when the samples are too small to conclude anything, or there is no holdout to compare with. */
	warning?: string;
	/** On `all` rows: the journey's events that only updated the profile (NOT_A_TRIGGER), not part of lift. */
	profileOnly?: number;
}

export interface LiftOptions {
	/** Outcome types that count as converting, for every journey (default: each decision's own, see `converted`). */
	conversion?: Outcome['type'][];
	/** Fewer contacts (decisions, when contacts are not known) than this in either group, or fewer than `minConversions` in both together, warns. */
	minSample?: number;
	minConversions?: number;
}

/** Wilson score interval for one proportion (the building block of Newcombe's interval). */
export function wilson(x: number, n: number, z = Z95): { low: number; high: number } {
	if (n === 0) return { low: 0, high: 1 };
	const p = x / n;
	const z2 = z * z;
	const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
	const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
	return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/**
 * Difference of two proportions with Newcombe's hybrid score interval (Newcombe 1998, method 10): it
 * keeps close to nominal coverage for small samples and rates near 0, where the Wald interval does not.
 */
export function newcombeDifference(x1: number, n1: number, x2: number, n2: number, z = Z95): Interval {
	const p1 = x1 / n1;
	const p2 = x2 / n2;
	const w1 = wilson(x1, n1, z);
	const w2 = wilson(x2, n2, z);
	const d = p1 - p2;
	return { estimate: d, low: d - Math.sqrt((p1 - w1.low) ** 2 + (w2.high - p2) ** 2), high: d + Math.sqrt((w1.high - p1) ** 2 + (p2 - w2.low) ** 2) };
}

/** Relative lift p1/p2 − 1 with the Katz log interval for the risk ratio; undefined without conversions in both. */
export function relativeLift(x1: number, n1: number, x2: number, n2: number, z = Z95): Interval | undefined {
	if (!x1 || !x2) return undefined;
	const rr = x1 / n1 / (x2 / n2);
	const se = Math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2);
	return { estimate: rr - 1, low: rr * Math.exp(-z * se) - 1, high: rr * Math.exp(z * se) - 1 };
}

function rate(n: number, conversions: number): GroupRate {
	return { n, conversions, rate: n ? conversions / n : 0 };
}

/** One contact's decisions in a group, and how many of them converted. */
export interface ContactCell {
	n: number;
	conversions: number;
}

/**
 * The effective sample size of a group's conversion rate when contacts have several decisions each: Kish's design
 * effect with a cluster-robust (per contact) variance, `n` when a contact's decisions vary like independent trials,
 * down to the number of contacts when each contact's decisions all go the same way. With fewer than two contacts, or a
 * rate of 0 or 1, the data cannot tell how alike they are: the contacts count, the randomised unit.
 */
export function effectiveSampleSize(cells: Iterable<ContactCell>, contacts: number, n: number, conversions: number): number {
	const p = conversions / n;
	if (contacts < 2 || p === 0 || p === 1) return contacts;
	let squares = 0;
	for (const c of cells) squares += (c.conversions - p * c.n) ** 2;
	const variance = ((contacts / (contacts - 1)) * squares) / (n * n);
	return Math.min(n, Math.max(contacts, (p * (1 - p)) / variance));
}

/** The counts an interval is built from: the group's own, or scaled to its effective sample size. */
function effectiveCounts(g: GroupRate): [conversions: number, n: number] {
	return g.effectiveN === undefined || g.effectiveN === g.n ? [g.conversions, g.n] : [g.rate * g.effectiveN, g.effectiveN];
}

/** What a journey without holdout decisions shows instead of a lift. */
export const NO_HOLDOUT = "no holdout in this journey's policy";

/** One comparison of converted counts, with the warning a marketer needs when it proves nothing. */
export function compare(journey: string, arm: string, treated: GroupRate, holdout: GroupRate, options: LiftOptions = {}): LiftRow {
	const minSample = options.minSample ?? 100;
	const minConversions = options.minConversions ?? 10;
	const row: LiftRow = { journey, arm, treated, holdout, significant: false };
	if (!holdout.n) {
		row.unavailable = NO_HOLDOUT;
		row.warning = `${NO_HOLDOUT}: nothing to compare with (set holdout.journeys.${journey} or holdout.globalShare in the policy to measure lift)`;
		return row;
	}
	if (!treated.n) row.unavailable = 'no treated decisions';
	else {
		const [x1, n1] = effectiveCounts(treated);
		const [x2, n2] = effectiveCounts(holdout);
		row.absolute = newcombeDifference(x1, n1, x2, n2);
		row.relative = relativeLift(x1, n1, x2, n2);
		row.significant = row.absolute.low > 0 || row.absolute.high < 0;
	}
	// The holdout assigns contacts: many decisions of a few contacts are still a few observations.
	const unit = treated.contacts !== undefined && holdout.contacts !== undefined ? 'contacts' : 'decisions';
	const size = (g: GroupRate) => g.contacts ?? g.n;
	const small: string[] = [];
	if (size(treated) < minSample) small.push(`${size(treated)} treated ${unit}`);
	if (size(holdout) < minSample) small.push(`${size(holdout)} holdout ${unit}`);
	if (treated.conversions + holdout.conversions < minConversions) small.push(`${treated.conversions + holdout.conversions} conversions in all`);
	if (small.length) row.warning = `too small to conclude anything: ${small.join(', ')} (want at least ${minSample} ${unit} per group and ${minConversions} conversions)`;
	return row;
}

/**
 * Lift per journey, tallied one decision at a time (so a long log streams through). Every decision that
 * reached Choose Channel is either holdout (its contact's bucket put it in a control group) or treated.
 * The `all` row compares every treated decision with the holdout (intention to treat: the randomised
 * comparison, so it includes treated decisions that sent nothing); one row per channel that sent compares
 * that channel's decisions with the same holdout, which is descriptive only, since the channel was not
 * assigned at random. Events that only updated the profile (NOT_A_TRIGGER) never reach Choose Channel:
 * they are counted apart, on the `all` row.
 */
export class LiftTally {
	/** Per journey and arm, each contact's decisions: the contact is the unit the holdout randomises. */
	private readonly groups = new Map<string, Map<string, Map<string, ContactCell>>>();
	private readonly profileOnly = new Map<string, number>();

	constructor(private readonly options: LiftOptions = {}) {}

	private count(journey: string, arm: string, contactId: string, converted: boolean): void {
		let arms = this.groups.get(journey);
		if (!arms) this.groups.set(journey, (arms = new Map()));
		let cells = arms.get(arm);
		if (!cells) arms.set(arm, (cells = new Map()));
		const c = cells.get(contactId) ?? { n: 0, conversions: 0 };
		c.n += 1;
		if (converted) c.conversions += 1;
		cells.set(contactId, c);
	}

	add(d: Decision): void {
		if (d.reason === 'NOT_A_TRIGGER') this.profileOnly.set(d.journey, (this.profileOnly.get(d.journey) ?? 0) + 1);
		if (!d.choice) return;
		const yes = converted(d, this.options.conversion);
		if (d.choice.method === 'holdout') return this.count(d.journey, 'holdout', d.contactId, yes);
		this.count(d.journey, 'all', d.contactId, yes);
		if (d.status === 'sent' && d.channel) this.count(d.journey, `arm:${d.channel}`, d.contactId, yes);
	}

	report(): LiftRow[] {
		const rows: LiftRow[] = [];
		for (const [journey, arms] of [...this.groups].sort(([a], [b]) => a.localeCompare(b))) {
			const get = (arm: string) => groupRate(arms.get(arm));
			const holdout = get('holdout');
			rows.push({ ...compare(journey, 'all', get('all'), holdout, this.options), profileOnly: this.profileOnly.get(journey) ?? 0 });
			const channels = [...arms.keys()].filter((k) => k.startsWith('arm:')).sort();
			for (const key of channels) rows.push(compare(journey, key.slice(4), get(key), holdout, this.options));
		}
		return rows;
	}
}

/** A group's rate from its contacts' decisions, with the contacts and the effective sample size its intervals use. */
export function groupRate(cells: Map<string, ContactCell> | undefined): GroupRate {
	let n = 0;
	let conversions = 0;
	for (const c of cells?.values() ?? []) [n, conversions] = [n + c.n, conversions + c.conversions];
	const contacts = cells?.size ?? 0;
	return { ...rate(n, conversions), contacts, effectiveN: n ? effectiveSampleSize(cells!.values(), contacts, n, conversions) : 0 };
}

export function liftReport(decisions: Iterable<Decision>, options: LiftOptions = {}): LiftRow[] {
	const tally = new LiftTally(options);
	for (const d of decisions) tally.add(d);
	return tally.report();
}

const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const pp = (v: number) => `${v >= 0 ? '+' : ''}${(v * 100).toFixed(2)} pp`;

/** The report as a table a marketer can read. */
export function formatLift(rows: LiftRow[]): string {
	if (!rows.length) return 'No decisions reached Choose Channel in this range, so there is nothing to compare.\n';
	const lines = ['journey\tarm\ttreated (conv/n)\tholdout (conv/n)\tabsolute lift [95% CI]\trelative lift [95% CI]'];
	for (const r of rows) {
		const abs = r.absolute ? `${pp(r.absolute.estimate)} [${pp(r.absolute.low)}, ${pp(r.absolute.high)}]` : `n/a (${r.unavailable})`;
		const rel = r.relative ? `${pct(r.relative.estimate)} [${pct(r.relative.low)}, ${pct(r.relative.high)}]` : r.absolute ? 'n/a (no conversions in a group)' : `n/a (${r.unavailable})`;
		lines.push(`${r.journey}\t${r.arm}\t${pct(r.treated.rate)} (${r.treated.conversions}/${r.treated.n})\t${pct(r.holdout.rate)} (${r.holdout.conversions}/${r.holdout.n})\t${abs}\t${rel}${r.warning ? `\tWARNING: ${r.warning}` : r.significant ? '\tsignificant' : ''}`);
	}
	lines.push('Absolute lift: Newcombe hybrid score interval; relative lift: Katz log interval; both 95%. Only the "all" row is a randomised comparison (it includes treated decisions that sent nothing); channel rows are descriptive.');
	const profileOnly = rows.filter((r) => r.profileOnly).map((r) => `${r.journey} ${r.profileOnly}`);
	if (profileOnly.length) lines.push(`Events that only updated the profile (not triggers: no message, not part of lift): ${profileOnly.join(', ')}.`);
	return `${lines.join('\n')}\n`;
}

/**
 * Decisions and outcomes read from JSONL files (a decision log export, and outcomes as
 * `{"decisionId", "type", "outcomeId"?}` lines): each outcome is attached to its decision once (a
 * repeated outcome id, or one already in the decision, is skipped). Bad lines are errors with their line
 * number; outcomes for decisions not in the file are counted and returned, not guessed at.
 */
export function joinJsonl(decisionLines: string[], outcomeLines: string[] = []): { decisions: Decision[]; unmatchedOutcomes: number } {
	const decisions = new Map<string, Decision>();
	const parseLine = (line: string, where: string): unknown => {
		try {
			return JSON.parse(line);
		} catch {
			throw new NudgeError('INVALID_INPUT', `${where} is not JSON`);
		}
	};
	decisionLines.forEach((line, i) => {
		if (!line.trim()) return;
		const parsed = DecisionSchema.safeParse(parseLine(line, `Decision line ${i + 1}`));
		if (!parsed.success) throw new NudgeError('INVALID_INPUT', `Decision line ${i + 1} is not a Nudge decision: ${describeIssues(issuesFromZod(parsed.error))}`);
		decisions.set(parsed.data.decisionId, parsed.data);
	});
	const seen = new Set([...decisions.values()].flatMap((d) => d.outcomes.map((o) => o.outcomeId)));
	let unmatchedOutcomes = 0;
	outcomeLines.forEach((line, i) => {
		if (!line.trim()) return;
		const raw = parseLine(line, `Outcome line ${i + 1}`) as Record<string, unknown>;
		const decisionId = raw && typeof raw.decisionId === 'string' ? raw.decisionId : undefined;
		const parsed = OutcomeSchema.safeParse({ at: '', ...raw, outcomeId: raw?.outcomeId ?? `${decisionId}:${raw?.type}` });
		if (!decisionId || !parsed.success) {
			const why = parsed.success ? 'decisionId: required' : describeIssues(issuesFromZod(parsed.error));
			throw new NudgeError('INVALID_INPUT', `Outcome line ${i + 1} is not an outcome (needs decisionId and type): ${why}`);
		}
		const d = decisions.get(decisionId);
		if (!d) return void unmatchedOutcomes++;
		if (seen.has(parsed.data.outcomeId)) return;
		seen.add(parsed.data.outcomeId);
		d.outcomes.push(parsed.data);
	});
	return { decisions: [...decisions.values()], unmatchedOutcomes };
}
