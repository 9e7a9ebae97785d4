import { z } from 'zod/v4';
import { DECISION_STATUSES, Decision, REASON_CODES } from './schema';
import { CHANNELS } from '../channels';
import { compare, ContactCell, groupRate, LiftOptions, LiftRow } from '../decide/lift';
import type { Engine } from '../engine';
import { describeIssues, issuesFromZod, NudgeError } from '../errors';
import { encodingProblem, storableText } from '../events/limits';
import type { Profile } from '../profiles/schema';
import { profileById } from '../profiles/profiles';
import type { DecisionFilter, DecisionSummary, FactCount, FactValue, ModelActivation, ModelVersionInfo, SummaryPage } from '../store/types';
import type { UpliftEvaluation } from '../scoring/uplift/metrics';
import { activeUplift } from '../scoring/uplift/registry';
import { redactDecision, redactValue, shownTraits, withoutSecrets } from './redact';

/** The funnel's stages, in order: a decision's `stage` fact (store/decisionFacts.ts) is its index here. */
export const FUNNEL_STAGES = ['received', 'scored', 'channel chosen', 'passed guardrails', 'sent'] as const;

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** The dates the console's from/to accept: a day, or an ISO 8601 date-time (local time without a zone). */
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})?)?$/;
export const CONSOLE_DATE_RANGE = { from: 1970, to: 9999 } as const;

/**
 * A from/to filter value as an ISO time. Only real calendar dates in years 1970–9999 pass: Date.parse
 * alone rolls 2026-02-30 over into March and takes 275760-01-01 as a year that sorts before 2026 as text.
 */
const isoTime = (field: string) =>
	z.string().transform((v, ctx) => {
		const iso = consoleDate(v);
		if (iso === undefined) {
			ctx.addIssue({
				code: 'custom',
				message: `${field} must be a date or date-time, e.g. 2026-11-20 or 2026-11-20T08:00:00Z, between ${CONSOLE_DATE_RANGE.from}-01-01 and ${CONSOLE_DATE_RANGE.to}-12-31, not "${v}"`,
			});
			return z.NEVER;
		}
		return iso;
	});

function consoleDate(v: string): string | undefined {
	const m = ISO_DATE.exec(v);
	if (!m) return undefined;
	const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
	const realDay = month >= 1 && month <= 12 && new Date(Date.UTC(year, month - 1, day)).getUTCDate() === day;
	const t = Date.parse(v);
	if (!realDay || year < CONSOLE_DATE_RANGE.from || year > CONSOLE_DATE_RANGE.to || Number.isNaN(t)) return undefined;
	const iso = new Date(t).toISOString();
	// A zone offset can push 9999-12-31 into year 10000, which no longer sorts as text.
	return /^\d{4}-/.test(iso) ? iso : undefined;
}

/** The console's filters as they arrive in a URL query string; unknown parameters are refused, not ignored. */
const FilterParamsSchema = z
	.object({
		journey: storableText(z.string().min(1)).optional(),
		channel: z.enum([...CHANNELS, 'wait'] as [string, ...string[]], { message: `channel must be one of ${[...CHANNELS, 'wait'].join(', ')}` }).optional(),
		reason: z.enum(REASON_CODES, { message: `reason must be one of ${REASON_CODES.join(', ')}` }).optional(),
		status: z.enum(DECISION_STATUSES, { message: `status must be one of ${DECISION_STATUSES.join(', ')}` }).optional(),
		contact: storableText(z.string().min(1)).optional(),
		from: isoTime('from').optional(),
		to: isoTime('to').optional(),
		limit: z.coerce.number({ message: 'limit must be a number' }).int('limit must be a whole number').min(1, 'limit must be at least 1').max(MAX_PAGE_SIZE, `limit must be at most ${MAX_PAGE_SIZE}`).optional(),
		cursor: storableText(z.string().min(1)).optional(),
		/** Which engine to read, where several are configured (Node-RED: a nudge-engine config node id). */
		engine: z.string().optional(),
		/** Credentials ride in the query string for links; the server checks them, the filter ignores them. */
		access_token: z.string().optional(),
		token: z.string().optional(),
	})
	.strict();

export interface ParsedParams {
	filter: DecisionFilter;
	page: SummaryPage;
}

const encodeCursor = (s: Pick<DecisionSummary, 'createdAt' | 'decisionId'>) => Buffer.from(`${s.createdAt}|${s.decisionId}`).toString('base64url');

function decodeCursor(cursor: string): SummaryPage['before'] {
	const text = Buffer.from(cursor, 'base64url').toString('utf8');
	const bar = text.indexOf('|');
	// What it decodes to reaches the store's query: a NUL in it would fail there as "the store is down".
	if (bar < 1 || Number.isNaN(Date.parse(text.slice(0, bar))) || encodingProblem(text)) throw new NudgeError('INVALID_INPUT', 'cursor is not a page cursor from this console: start again from the first page');
	return { createdAt: text.slice(0, bar), decisionId: text.slice(bar + 1) };
}

/** Validates URL query parameters into a filter and a page; bad input is a NudgeError a marketer can read. */
export function parseConsoleParams(params: Record<string, string | undefined>): ParsedParams {
	const defined = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined && v !== ''));
	const known = Object.keys(FilterParamsSchema.shape);
	const unknown = Object.keys(defined).filter((k) => !known.includes(k));
	if (unknown.length) {
		throw new NudgeError('INVALID_INPUT', `Unknown filter ${unknown.map((k) => `"${k}"`).join(', ')}: the filters are journey, channel, reason, status, contact, from, to (and limit, cursor for paging)`);
	}
	const parsed = FilterParamsSchema.safeParse(defined);
	if (!parsed.success) {
		const issues = issuesFromZod(parsed.error);
		throw new NudgeError('INVALID_INPUT', `Bad filter: ${describeIssues(issues)}`, issues);
	}
	const p = parsed.data;
	if (p.from && p.to && p.from >= p.to) throw new NudgeError('INVALID_INPUT', `Bad filter: from (${p.from}) must be before to (${p.to})`);
	const filter: DecisionFilter = {};
	if (p.journey) filter.journey = p.journey;
	if (p.channel) filter.channel = p.channel;
	if (p.reason) filter.reason = p.reason;
	if (p.status) filter.status = p.status;
	if (p.contact) filter.contactId = p.contact;
	if (p.from) filter.from = p.from;
	if (p.to) filter.to = p.to;
	return { filter, page: { limit: p.limit ?? DEFAULT_PAGE_SIZE, before: p.cursor ? decodeCursor(p.cursor) : undefined } };
}

export interface ConsoleOptions {
	/** Show emails, phone numbers, names and addresses as stored. Off unless the operator turns it on. */
	revealPii?: boolean;
}

export interface StreamPage {
	rows: DecisionSummary[];
	/** Cursor of the next (older) page; absent on the last page. */
	next?: string;
}

export interface FunnelRow {
	journey: string;
	/** Decisions that reached each stage (FUNNEL_STAGES), then those sent that converted. */
	stages: { stage: string; n: number }[];
}

export interface RocPoint {
	/** Scores at or above this probability count as predicted conversions. */
	threshold: number;
	fpr: number;
	tpr: number;
}

export interface ModelEvaluation {
	model: string;
	/** Scored decisions, and those with a conversion outcome. */
	n: number;
	positives: number;
	/** From probabilities in hundredths (ties within a hundredth count ½); undefined without both classes. */
	auc?: number;
	roc: RocPoint[];
	calibration: { from: number; to: number; count: number; meanPredicted: number; observedRate: number }[];
}

/** One gated journey's uplift model in the console (queries.ts `uplift`). */
export interface UpliftPanel {
	journey: string;
	model: string;
	fallback?: boolean;
	averageEffect?: number;
	evaluation?: UpliftEvaluation;
	/** Why there is no evaluation. */
	note?: string;
}

export interface ModelHistory {
	name: string;
	versions: (Omit<ModelVersionInfo, 'meta'> & { auc?: number; rows?: number })[];
	activations: ModelActivation[];
}

const countOf = (rows: FactCount[], match: (key: FactValue[]) => boolean) => rows.reduce((s, r) => (match(r.key) ? s + r.n : s), 0);

/** How an operator reveals personal data, as the console's banner says it (docs/console.md says the same). */
export const REVEAL_PII_HOW = 'To show it, start the console with `nudge console --reveal-pii`; in Node-RED, tick "Console: show personal data" on the nudge-engine config node.';

/** An event that only updated the profile: logged `suppressed` with NOT_A_TRIGGER, though nothing was held back. */
export const PROFILE_ONLY = 'profile only';
const isProfileOnly = (reason: FactValue) => reason === 'NOT_A_TRIGGER';
/** A decision of the control group: logged `suppressed` with HOLDOUT by design (lift compares with it), not held back by a guardrail. */
export const HOLDOUT_GROUP = 'holdout';
const isHoldout = (reason: FactValue) => reason === 'HOLDOUT';
/** Counted apart from the statuses (profile-only events, holdout decisions), or undefined. */
const apartOf = (reason: FactValue) => (isProfileOnly(reason) ? PROFILE_ONLY : isHoldout(reason) ? HOLDOUT_GROUP : undefined);

export interface Totals {
	total: number;
	/** Per status; `suppressed` leaves out the events that only updated the profile and the holdout decisions. */
	byStatus: Record<string, number>;
	/** Events that only updated the profile (reason NOT_A_TRIGGER): no message was meant, none held back. */
	profileOnly: number;
	/** Decisions of the control group (reason HOLDOUT): no message by design, so lift has something to compare with. */
	holdout: number;
	/** The policy versions the matching decisions were made under, most decisions first. */
	policyVersions: { version: string; n: number }[];
}

/**
 * The decision console's read API: every view's data, computed by the store (SQL GROUP BY on SQLite
 * and PostgreSQL, one pass on memory and Redis), with PII redacted unless configured otherwise. The web
 * page reads only this, through JSON endpoints (console/server.ts).
 */
export class DecisionConsole {
	readonly revealPii: boolean;

	constructor(
		readonly engine: Engine,
		options: ConsoleOptions = {},
	) {
		this.revealPii = options.revealPii === true;
	}

	private get store() {
		return this.engine.store;
	}

	private redact<T>(value: T, piiKeys: boolean): T {
		return this.revealPii ? value : (redactValue(value, piiKeys) as T);
	}

	/** Matching decisions, newest first, one page at a time (keyset paging: no gaps or repeats while the log grows). */
	async stream(filter: DecisionFilter, page: SummaryPage): Promise<StreamPage> {
		const rows = await this.store.listDecisionSummaries(filter, { ...page, limit: page.limit + 1 });
		const more = rows.length > page.limit;
		const shown = rows.slice(0, page.limit);
		return { rows: shown.map((r) => this.redact(r, false)), ...(more ? { next: encodeCursor(shown[shown.length - 1]) } : {}) };
	}

	/**
	 * Counts per status (the header of every view), with events that only updated the profile and holdout
	 * decisions counted apart (both are logged `suppressed`, but no guardrail held anything back), and the
	 * policy versions the matching decisions were made under.
	 */
	async totals(filter: DecisionFilter): Promise<Totals> {
		const rows = await this.store.countDecisions(filter, ['status', 'reason']);
		const byStatus: Record<string, number> = {};
		for (const r of rows) if (!apartOf(r.key[1])) byStatus[String(r.key[0])] = (byStatus[String(r.key[0])] ?? 0) + r.n;
		const versions = await this.store.countDecisions(filter, ['policyVersion']);
		return {
			total: countOf(rows, () => true),
			byStatus,
			profileOnly: countOf(rows, (k) => isProfileOnly(k[1])),
			holdout: countOf(rows, (k) => isHoldout(k[1])),
			policyVersions: versions.map((r) => ({ version: String(r.key[0]), n: r.n })).sort((a, b) => b.n - a.n || a.version.localeCompare(b.version)),
		};
	}

	/**
	 * One decision in full, and the contact's features as the profile holds them now (counters, traits,
	 * lifecycle, consent): what scoring and choosing read.
	 */
	async decision(decisionId: string): Promise<{ decision: Decision; features?: Record<string, unknown>; consent?: Profile['consent'] }> {
		if (!decisionId || decisionId.length > 200) throw new NudgeError('INVALID_INPUT', 'Give a decision id (d_…)');
		const problem = encodingProblem(decisionId);
		if (problem) throw new NudgeError('INVALID_INPUT', `The decision id ${problem}`);
		const decision = await this.store.getDecision(decisionId);
		if (!decision) throw new NudgeError('UNKNOWN_DECISION', `Decision ${decisionId} is not in this decision log`, [], 404);
		const profile = await profileById(this.store, decision.contactId);
		// Counters are keyed by event name ("Email Opened"), so only traits are masked by key.
		const features = profile && {
			...profile.counters,
			...shownTraits(profile.traits, this.revealPii),
			...(profile.lifecycle ? { lifecycle: profile.lifecycle } : {}),
			...(profile.timezone ? { timezone: profile.timezone } : {}),
		};
		return {
			// Credentials a flow logged in an annotation stay hidden even where personal data is shown.
			decision: this.revealPii ? { ...decision, annotations: withoutSecrets(decision.annotations) as Decision['annotations'] } : redactDecision(decision),
			...(features ? { features: this.redact(features, false), consent: profile!.consent } : {}),
		};
	}

	/** Per journey: how many decisions reached each stage, and how many sent ones converted. */
	async funnel(filter: DecisionFilter): Promise<FunnelRow[]> {
		const rows = await this.store.countDecisions(filter, ['journey', 'stage', 'converted']);
		const journeys = [...new Set(rows.map((r) => String(r.key[0])))].sort();
		return journeys.map((journey) => ({
			journey,
			stages: [
				...FUNNEL_STAGES.map((stage, i) => ({ stage, n: countOf(rows, (k) => k[0] === journey && Number(k[1]) >= i) })),
				{ stage: 'converted', n: countOf(rows, (k) => k[0] === journey && k[1] === FUNNEL_STAGES.length - 1 && k[2] === true) },
			],
		}));
	}

	/**
	 * Suppressions per reason per hour, rolled up to days when the range spans more than three days. Events
	 * that only updated the profile and holdout decisions are not suppressions: they are counted apart
	 * (`profileOnly`, `holdout`).
	 */
	async suppressions(filter: DecisionFilter): Promise<{ bucket: 'hour' | 'day'; buckets: string[]; series: { reason: string; counts: number[] }[]; total: number; profileOnly: number; holdout: number }> {
		const rows = await this.store.countDecisions({ ...filter, status: 'suppressed' }, ['hour', 'reason']);
		const hourly = rows.filter((r) => !apartOf(r.key[1]));
		const hours = [...new Set(hourly.map((r) => String(r.key[0])))].sort();
		const span = hours.length ? (Date.parse(`${hours[hours.length - 1]}:00:00Z`) - Date.parse(`${hours[0]}:00:00Z`)) / 3_600_000 : 0;
		const bucket = span > 72 ? 'day' : 'hour';
		const bucketOf = (hour: string) => (bucket === 'day' ? hour.slice(0, 10) : hour);
		const buckets = [...new Set(hours.map(bucketOf))];
		const reasons = [...new Set(hourly.map((r) => String(r.key[1] ?? 'none')))].sort();
		const series = reasons.map((reason) => ({
			reason,
			counts: buckets.map((b) => countOf(hourly, (k) => bucketOf(String(k[0])) === b && String(k[1] ?? 'none') === reason)),
		}));
		return { bucket, buckets, series, total: countOf(hourly, () => true), profileOnly: countOf(rows, (k) => isProfileOnly(k[1])), holdout: countOf(rows, (k) => isHoldout(k[1])) };
	}

	/** Decisions per chosen channel and status (`none`: no channel was chosen; `profile only`, `holdout`: nothing sent by design). */
	async channelMix(filter: DecisionFilter): Promise<{ channel: string; byStatus: Record<string, number>; total: number }[]> {
		const rows = await this.store.countDecisions(filter, ['channel', 'status', 'reason']);
		const channels = [...new Set(rows.map((r) => String(r.key[0] ?? 'none')))];
		return channels.map((channel) => {
			const byStatus: Record<string, number> = {};
			const mine = rows.filter((r) => String(r.key[0] ?? 'none') === channel);
			for (const r of mine) {
				const status = apartOf(r.key[2]) ?? String(r.key[1]);
				byStatus[status] = (byStatus[status] ?? 0) + r.n;
			}
			return { channel, byStatus, total: countOf(mine, () => true) };
		});
	}

	/** Decisions held back by each frequency-cap rule, split by what happened (suppressed, delayed…). */
	async capHits(filter: DecisionFilter): Promise<{ rule: string; byStatus: Record<string, number>; total: number }[]> {
		const rows = (await this.store.countDecisions(filter, ['capRule', 'status'])).filter((r) => r.key[0] !== null);
		const rules = [...new Set(rows.map((r) => String(r.key[0])))];
		return rules
			.map((rule) => {
				const mine = rows.filter((r) => r.key[0] === rule);
				return { rule, byStatus: Object.fromEntries(mine.map((r) => [String(r.key[1]), r.n])), total: countOf(mine, () => true) };
			})
			.sort((a, b) => b.total - a.total || a.rule.localeCompare(b.rule));
	}

	/**
	 * How well each model's scores separated decisions that converted from those that did not: ROC curve
	 * and calibration from the log (probabilities to the hundredth), and each model's version history.
	 */
	async models(filter: DecisionFilter): Promise<{ evaluations: ModelEvaluation[]; history: ModelHistory[] }> {
		const rows = (await this.store.countDecisions(filter, ['model', 'scoreBin', 'converted'])).filter((r) => r.key[0] !== null);
		const models = [...new Set(rows.map((r) => String(r.key[0])))].sort();
		const evaluations = models.map((model) => evaluationOf(model, rows.filter((r) => r.key[0] === model)));
		const names = new Set(models.filter((m) => !m.startsWith('rules:')).map((m) => m.replace(/@v\d+$/, '')));
		if (this.engine.policy.scoring.model) names.add(this.engine.policy.scoring.model);
		const history = await Promise.all(
			[...names].sort().map(async (name) => ({
				name,
				versions: (await this.store.listModelVersions(name)).map(({ meta, ...v }) => {
					const evaluation = meta.evaluation as { auc?: number; rows?: number } | undefined;
					return { ...v, auc: evaluation?.auc, rows: evaluation?.rows };
				}),
				activations: await this.store.modelActivations(name),
			})),
		);
		return { evaluations, history };
	}

	/**
	 * Each uplift-gated journey's active uplift model as evaluated on its held-out rows when trained: the
	 * Qini curve with its 95% band, the random line, uplift at k and the verdict (docs/uplift.md). A
	 * journey whose model is missing or unreadable says so instead.
	 */
	async uplift(filter: DecisionFilter): Promise<UpliftPanel[]> {
		const gated = Object.entries(this.engine.policy.journeys).filter(([journey, j]) => j.uplift && (!filter.journey || filter.journey === journey));
		return Promise.all(
			gated.map(async ([journey, j]): Promise<UpliftPanel> => {
				const name = j.uplift!.model;
				try {
					const active = await activeUplift(this.store, name);
					if (!active) return { journey, model: name, note: `no version of uplift model "${name}" is active: the gate admits every contact` };
					const { evaluation, fallback, averageEffect } = active.model;
					return { journey, model: `${name}@v${active.version}`, fallback, averageEffect, evaluation };
				} catch (error) {
					if (!(error instanceof NudgeError)) throw error;
					return { journey, model: name, note: `uplift model "${name}" could not be loaded (${error.message})` };
				}
			}),
		);
	}

	/**
	 * Lift per journey, treated vs holdout, with 95% intervals (engine/decide/lift.ts), from counts the store
	 * groups: `all`, then one row per channel that sent (treated decisions that sent nothing are in `all` only).
	 */
	async lift(filter: DecisionFilter, options: LiftOptions = {}): Promise<LiftRow[]> {
		// Per contact too: the holdout assigns contacts, so the intervals and warnings count them (lift.ts groupRate).
		const rows = (await this.store.countDecisions(filter, ['journey', 'group', 'status', 'channel', 'converted', 'contactId'])).filter((r) => r.key[1] !== null);
		const profileOnly = await this.store.countDecisions({ ...filter, reason: 'NOT_A_TRIGGER' }, ['journey']);
		const out: LiftRow[] = [];
		for (const journey of [...new Set(rows.map((r) => String(r.key[0])))].sort((a, b) => a.localeCompare(b))) {
			const mine = rows.filter((r) => r.key[0] === journey);
			const armOf = (k: FactValue[]) => (k[1] === 'treated' && k[2] === 'sent' && k[3] ? String(k[3]) : undefined);
			const rate = (match: (k: FactValue[]) => boolean) => {
				const cells = new Map<string, ContactCell>();
				for (const r of mine.filter((row) => match(row.key))) {
					const cell = cells.get(String(r.key[5])) ?? { n: 0, conversions: 0 };
					cell.n += r.n;
					if (r.key[4] === true) cell.conversions += r.n;
					cells.set(String(r.key[5]), cell);
				}
				return groupRate(cells);
			};
			const holdout = rate((k) => k[1] === 'holdout');
			const all = compare(journey, 'all', rate((k) => k[1] === 'treated'), holdout, options);
			out.push({ ...all, profileOnly: countOf(profileOnly, (k) => k[0] === journey) });
			const arms = [...new Set(mine.map((r) => armOf(r.key)).filter((a) => a !== undefined))].sort();
			for (const arm of arms) out.push(compare(journey, arm, rate((k) => armOf(k) === arm), holdout, options));
		}
		return out;
	}

	/** Text for the page: what redaction hides and how to reveal it, or that nothing is hidden. */
	get piiNotice(): string {
		return this.revealPii
			? 'Personal data is shown as stored (the console was started with PII revealed); credentials (tokens, passwords, API keys) stay hidden.'
			: `Personal data is redacted: email addresses, phone numbers, names, postal addresses, identities and credentials are hidden. ${REVEAL_PII_HOW}`;
	}
}

/** ROC, AUC and calibration from counts of (score in hundredths, converted). */
export function evaluationOf(model: string, rows: FactCount[]): ModelEvaluation {
	const bins = new Map<number, { pos: number; neg: number }>();
	for (const r of rows) {
		if (r.key[1] === null) continue;
		const b = bins.get(Number(r.key[1])) ?? { pos: 0, neg: 0 };
		if (r.key[2] === true) b.pos += r.n;
		else b.neg += r.n;
		bins.set(Number(r.key[1]), b);
	}
	const order = [...bins.keys()].sort((a, b) => b - a);
	const P = order.reduce((s, k) => s + bins.get(k)!.pos, 0);
	const N = order.reduce((s, k) => s + bins.get(k)!.neg, 0);
	const roc: RocPoint[] = [{ threshold: 1.01, fpr: 0, tpr: 0 }];
	let tp = 0;
	let fp = 0;
	let area = 0;
	for (const k of order) {
		const b = bins.get(k)!;
		const prev = { tpr: P ? tp / P : 0, fpr: N ? fp / N : 0 };
		tp += b.pos;
		fp += b.neg;
		const point = { threshold: k / 100, fpr: N ? fp / N : 0, tpr: P ? tp / P : 0 };
		area += ((point.fpr - prev.fpr) * (point.tpr + prev.tpr)) / 2;
		roc.push(point);
	}
	const tenths = new Map<number, { count: number; predicted: number; observed: number }>();
	for (const [k, b] of bins) {
		const t = Math.min(9, Math.floor(k / 10));
		const c = tenths.get(t) ?? { count: 0, predicted: 0, observed: 0 };
		const n = b.pos + b.neg;
		c.count += n;
		c.predicted += n * Math.min(1, (k + 0.5) / 100);
		c.observed += b.pos;
		tenths.set(t, c);
	}
	const calibration = [...tenths.entries()]
		.sort(([a], [b]) => a - b)
		.map(([t, c]) => ({ from: t / 10, to: (t + 1) / 10, count: c.count, meanPredicted: c.predicted / c.count, observedRate: c.observed / c.count }));
	return { model, n: P + N, positives: P, ...(P && N ? { auc: area } : {}), roc, calibration };
}
