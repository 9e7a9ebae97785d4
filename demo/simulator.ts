/**
 * The demo's simulated customers: a deterministic (seeded) mix of contacts for the three journeys, and
 * the Segment-spec events they produce over a scenario of a couple of hours — leads who convert or go
 * cold, shoppers who buy or abandon their cart, subscribers drifting towards cancelling — plus what they
 * do after a message reaches them (opens, clicks, orders, redemptions) at rates that differ by channel,
 * so the learner has something to learn.
 *
 * Times are scenario minutes from the start; the demo replays them faster than real time. Time zones
 * are picked against the clock the scenario starts at, so night-time contacts really are at night.
 */
import { createHash } from 'node:crypto';
import { DateTime } from 'luxon';
import { seededRandom as rng } from '../engine/decide/sampling';

export const JOURNEY_IDS = ['nurture', 'cart-abandonment', 'churn-risk'] as const;
export type JourneyId = (typeof JOURNEY_IDS)[number];

export type Persona =
	| 'converter'
	| 'engaged-lead'
	| 'cold-lead'
	| 'buyer'
	| 'abandoner-returns'
	| 'abandoner'
	| 'churner'
	| 'churner-with-ticket'
	| 'saved-subscriber'
	| 'opted-out'
	| 'night-time'
	| 'high-value';

type Consent = 'opted_in' | 'opted_out';

export interface SimContact {
	userId: string;
	journey: JourneyId;
	persona: Persona;
	/** The cart a shopper fills (cart-abandonment only). */
	cart?: { cart_id: string; value: number };
	traits: {
		email: string;
		phone?: string;
		name: string;
		timezone: string;
		consent: { email: Consent; sms?: Consent; push?: Consent };
		lifecycle: string;
		accountValue: number;
		plan: string;
		title?: string;
		company?: string;
		employees?: number;
	};
}

/** A Segment-spec `identify` or `track` call. */
export interface SegmentCall {
	type: 'identify' | 'track';
	messageId: string;
	userId: string;
	event?: string;
	properties?: Record<string, unknown>;
	traits?: Record<string, unknown>;
	context: { timezone: string; traits?: Record<string, unknown> };
	timestamp?: string;
}

export interface SimEvent {
	/** Scenario minutes after the start. */
	at: number;
	journey: JourneyId;
	contact: SimContact;
	call: SegmentCall;
	/** The source delivers this event twice, as a CDP does when it does not hear back in time. */
	retried?: boolean;
}

/** What the simulator needs to know about a message that reached a contact. */
export interface Delivered {
	journey: string;
	contactUserId: string;
	channel: string;
	/** Provider message id the send returned, when there was one. */
	messageId?: string;
	/** Scenario minute the message went out. */
	at: number;
	/** 1 for the first message this contact received in the scenario, 2 for the second… */
	ordinal: number;
}

export interface Scenario {
	seed: number;
	startedAt: Date;
	contacts: SimContact[];
	events: SimEvent[];
}

/** A 32-bit seed from a text, to give one contact's or one message's draws their own generator. */
function seedOf(text: string): number {
	return createHash('sha256').update(text).digest().readUInt32BE(0);
}

const ZONES = [
	'Pacific/Honolulu',
	'America/Los_Angeles',
	'America/Denver',
	'America/Chicago',
	'America/New_York',
	'America/Halifax',
	'America/Sao_Paulo',
	'Atlantic/Azores',
	'Europe/London',
	'Europe/Berlin',
	'Europe/Athens',
	'Asia/Dubai',
	'Asia/Karachi',
	'Asia/Kolkata',
	'Asia/Bangkok',
	'Asia/Singapore',
	'Asia/Tokyo',
	'Australia/Sydney',
	'Pacific/Auckland',
];

/** Zones where it is the middle of the night (01:00–05:59) or the working day (10:00–16:59) at `at`. */
export function zonesAt(at: Date): { night: string[]; day: string[] } {
	const hourIn = (zone: string) => DateTime.fromJSDate(at, { zone }).hour;
	return { night: ZONES.filter((z) => hourIn(z) >= 1 && hourIn(z) <= 5), day: ZONES.filter((z) => hourIn(z) >= 10 && hourIn(z) <= 16) };
}

const FIRST = ['Dana', 'Priya', 'Sam', 'Maya', 'Tom', 'Ava', 'Liam', 'Noor', 'Kenji', 'Sofia', 'Mateo', 'Chloe', 'Omar', 'Ines', 'Felix', 'Zara', 'Ravi', 'Elena', 'Jonas', 'Aisha', 'Lucas', 'Hana', 'Diego', 'Freya'];
const LAST = ['Whitfield', 'Raman', 'Ortiz', 'Chen', 'Ellis', 'Novak', 'Byrne', 'Haddad', 'Sato', 'Rossi', 'Alvarez', 'Martin', 'Farouk', 'Costa', 'Weber', 'Ahmed', 'Iyer', 'Petrova', 'Berg', 'Diallo', 'Moreau', 'Kim', 'Silva', 'Lund'];
const COMPANIES = ['Northwind', 'Lumen', 'Brightpath', 'Fernhill', 'Quarry', 'Parcel', 'Tidewater', 'Copperleaf', 'Harbor', 'Kestrel', 'Orchard', 'Summit'];
const SENIOR = ['VP Marketing', 'Head of Growth', 'Director of Operations', 'CMO', 'Founder'];
const JUNIOR = ['Marketing Manager', 'Growth Analyst', 'Campaign Specialist'];
const PRODUCTS = [
	{ product_id: 'sku-1001', name: 'Trail running shoes', price: 129 },
	{ product_id: 'sku-1002', name: 'Merino base layer', price: 79 },
	{ product_id: 'sku-1003', name: 'Insulated jacket', price: 249 },
	{ product_id: 'sku-1004', name: 'Hydration vest', price: 95 },
	{ product_id: 'sku-1005', name: 'Headlamp', price: 45 },
	{ product_id: 'sku-1006', name: 'Carbon trekking poles', price: 159 },
];
/** `plan` is how the customer pays (the churn score counts a monthly plan as a risk); `accountValue` what they are worth a year. */
const PLANS = [
	{ plan: 'monthly', accountValue: 1_200 },
	{ plan: 'monthly', accountValue: 6_000 },
	{ plan: 'annual', accountValue: 18_000 },
];

/** How each journey's contacts are made up, in a pattern of 12 that repeats (so 20 contacts have two night-time ones). */
const MIX: Record<JourneyId, Persona[]> = {
	nurture: ['converter', 'night-time', 'engaged-lead', 'cold-lead', 'engaged-lead', 'converter', 'cold-lead', 'engaged-lead', 'opted-out', 'cold-lead', 'high-value', 'engaged-lead'],
	'cart-abandonment': ['buyer', 'night-time', 'abandoner-returns', 'abandoner', 'buyer', 'abandoner-returns', 'abandoner', 'buyer', 'opted-out', 'abandoner', 'high-value', 'abandoner-returns'],
	'churn-risk': ['churner', 'night-time', 'churner-with-ticket', 'saved-subscriber', 'churner', 'churner-with-ticket', 'saved-subscriber', 'churner', 'opted-out', 'churner', 'high-value', 'saved-subscriber'],
};

/**
 * Chance that a message on a channel earns each response, per journey. SMS wins carts back, email
 * nurtures leads, a sales task saves accounts: the learner should come to prefer these.
 */
export const RESPONSE_RATES: Record<JourneyId, Record<string, { open: number; click: number; convert: number }>> = {
	nurture: { email: { open: 0.5, click: 0.2, convert: 0.1 }, sms: { open: 0, click: 0.12, convert: 0.05 }, push: { open: 0, click: 0.08, convert: 0.03 }, sales_task: { open: 0, click: 0, convert: 0.3 } },
	'cart-abandonment': { email: { open: 0.4, click: 0.15, convert: 0.12 }, sms: { open: 0, click: 0.35, convert: 0.25 }, push: { open: 0, click: 0.2, convert: 0.12 } },
	'churn-risk': { email: { open: 0.45, click: 0.12, convert: 0.1 }, sms: { open: 0, click: 0.1, convert: 0.06 }, push: { open: 0, click: 0.06, convert: 0.03 }, sales_task: { open: 0, click: 0, convert: 0.35 } },
};

/** Personas that respond far more (or less) than the channel's base rate. */
const PERSONA_LIFT: Partial<Record<Persona, number>> = { converter: 3, 'abandoner-returns': 3, 'saved-subscriber': 3, 'high-value': 1.5, 'cold-lead': 0.3, abandoner: 0.2, churner: 0.5 };

export interface ScenarioOptions {
	seed?: number;
	/** Contacts per journey (rounded up to whole sets of the mix's pattern where it matters). */
	perJourney?: number;
	/** The moment the scenario starts: time zones and timestamps are set from it. */
	startedAt?: Date;
}

/** The contacts and their scripted events, in time order. Same options, same scenario. */
export function buildScenario(options: ScenarioOptions = {}): Scenario {
	const seed = options.seed ?? 42;
	const perJourney = options.perJourney ?? 20;
	const startedAt = options.startedAt ?? new Date();
	const random = rng(seed);
	const pick = <T>(list: readonly T[]): T => pickOf(random, list);
	const zones = zonesAt(startedAt);
	if (!zones.night.length || !zones.day.length) throw new Error(`No time zone is at night or in the working day at ${startedAt.toISOString()}`);

	const contacts: SimContact[] = [];
	const events: SimEvent[] = [];
	let serial = 0;
	for (const journey of JOURNEY_IDS) {
		for (let i = 0; i < perJourney; i++) {
			const persona = MIX[journey][i % MIX[journey].length];
			const first = pick(FIRST);
			const last = pick(LAST);
			const company = pick(COMPANIES);
			const n = ++serial;
			const userId = `sim-${journey.split('-')[0]}-${String(n).padStart(3, '0')}`;
			// High-value accounts go to review; night-time ones do not, so what holds them back is the night.
			const tier = persona === 'high-value' ? { plan: 'annual', accountValue: 120_000 + Math.round(random() * 80) * 1000 } : pick(persona === 'night-time' ? PLANS.slice(0, 2) : PLANS);
			const optedOut = persona === 'opted-out';
			const contact: SimContact = {
				userId,
				journey,
				persona,
				traits: {
					email: `${first}.${last}.${n}@${company.toLowerCase()}.example`.toLowerCase(),
					...(random() < 0.6 ? { phone: `+1555${String(1_000_000 + Math.floor(random() * 8_999_999))}` } : {}),
					name: `${first} ${last}`,
					timezone: persona === 'night-time' ? pick(zones.night) : pick(zones.day),
					consent: optedOut ? { email: 'opted_out', sms: 'opted_out', push: 'opted_out' } : { email: 'opted_in', sms: random() < 0.55 ? 'opted_in' : 'opted_out', push: random() < 0.3 ? 'opted_in' : 'opted_out' },
					lifecycle: journey === 'nurture' ? 'lead' : 'customer',
					accountValue: tier.accountValue,
					plan: tier.plan,
					...(journey === 'nurture' ? { title: pick(persona === 'converter' || persona === 'high-value' ? SENIOR : persona === 'night-time' ? JUNIOR : [...SENIOR, ...JUNIOR]), company, employees: persona === 'cold-lead' ? 8 + Math.floor(random() * 20) : 40 + Math.floor(random() * 900) } : {}),
				},
			};
			contacts.push(contact);
			const start = random() * 20 + i * 1.5;
			for (const [offset, event, properties] of script(contact, random)) {
				events.push(eventFor(contact, start + offset, event, properties, startedAt, `sim-${seed}-${String(events.length + 1).padStart(5, '0')}`));
			}
		}
	}
	events.sort((a, b) => a.at - b.at || a.call.messageId.localeCompare(b.call.messageId));
	const retried = events.find((e, i) => i >= events.length / 3 && e.call.type === 'track');
	if (retried) retried.retried = true;
	return { seed, startedAt, contacts, events };
}

type Step = [minutes: number, event: string | 'identify', properties?: Record<string, unknown>];

/** What a contact does by themselves, before any message reaches them (minutes from their first event). */
function script(contact: SimContact, random: () => number): Step[] {
	const jitter = (base: number) => base + random() * base * 0.5;
	switch (contact.journey) {
		case 'nurture': {
			const steps: Step[] = [[0, 'identify'], [jitter(1), 'Lead Created', { source: pickOf(random, ['webinar', 'ebook', 'paid-search', 'referral']) }]];
			if (contact.persona === 'cold-lead') return steps;
			steps.push([jitter(6), 'Pricing Viewed', { path: '/pricing' }]);
			if (contact.persona === 'converter' || contact.persona === 'high-value') steps.push([jitter(15), 'Demo Requested', { form: 'book-a-demo' }]);
			else steps.push([jitter(20), 'Webinar Attended', { webinar: 'lifecycle-marketing-101' }]);
			return steps;
		}
		case 'cart-abandonment': {
			const products = [pickOf(random, PRODUCTS), ...(random() < 0.5 ? [pickOf(random, PRODUCTS)] : [])].map((p) => ({ ...p, quantity: 1 + Math.floor(random() * 2) }));
			if (contact.persona === 'high-value') products.push({ ...PRODUCTS[2], quantity: 4 }, { ...PRODUCTS[5], quantity: 3 });
			const value = products.reduce((sum, p) => sum + p.price * p.quantity, 0);
			const cart = { cart_id: `cart-${contact.userId}`, value, currency: 'USD', products };
			contact.cart = { cart_id: cart.cart_id, value };
			const steps: Step[] = [[0, 'identify'], [0.2, 'Cart Updated', cart]];
			if (contact.persona !== 'abandoner' && random() < 0.7) steps.push([jitter(3), 'Checkout Started', { cart_id: cart.cart_id, value, currency: 'USD' }]);
			// A buyer completes the order well inside the wait: the abandonment timer never fires.
			if (contact.persona === 'buyer') steps.push([jitter(8), 'Order Completed', orderOf(contact, value)]);
			return steps;
		}
		case 'churn-risk': {
			const steps: Step[] = [[0, 'identify'], [0.5, 'Usage Dropped', { metric: pickOf(random, ['weekly_active_users', 'projects_created', 'api_calls']), drop_pct: 40 + Math.round(random() * 50) }]];
			if (contact.persona === 'churner-with-ticket') steps.splice(1, 0, [0.2, 'Ticket Opened', { ticket_id: `t-${contact.userId}`, subject: 'Export keeps failing' }]);
			if (contact.persona === 'churner' || contact.persona === 'night-time') steps.push([jitter(10), 'Payment Failed', { amount: Math.round(contact.traits.accountValue / 12), currency: 'USD', attempt: 1 }]);
			if (contact.persona === 'churner-with-ticket') steps.push([jitter(40), 'Ticket Closed', { ticket_id: `t-${contact.userId}` }], [jitter(60), 'Usage Dropped', { metric: 'weekly_active_users', drop_pct: 55 }]);
			return steps;
		}
	}
}

function pickOf<T>(random: () => number, list: readonly T[]): T {
	return list[Math.floor(random() * list.length)];
}

function orderOf(contact: SimContact, total: number): Record<string, unknown> {
	return { order_id: `order-${contact.userId}`, cart_id: `cart-${contact.userId}`, total, revenue: total, currency: 'USD' };
}

function eventFor(contact: SimContact, at: number, event: string, properties: Record<string, unknown> | undefined, startedAt: Date, messageId: string): SimEvent {
	const timestamp = new Date(startedAt.getTime() + at * 60_000).toISOString();
	const call: SegmentCall =
		event === 'identify'
			? { type: 'identify', messageId, userId: contact.userId, traits: { ...contact.traits }, context: { timezone: contact.traits.timezone }, timestamp }
			: { type: 'track', messageId, userId: contact.userId, event, properties: properties ?? {}, context: { timezone: contact.traits.timezone, traits: { email: contact.traits.email } }, timestamp };
	return { at, journey: contact.journey, contact, call };
}

/**
 * What the contact does after a message reached them: each response is drawn from the journey's and
 * channel's rates (scaled by persona), from a generator seeded by the scenario, the contact and the
 * message's rank among theirs, so the same message earns the same responses in every run.
 */
export function responsesTo(scenario: Scenario, delivered: Delivered): SimEvent[] {
	const contact = scenario.contacts.find((c) => c.userId === delivered.contactUserId);
	const journey = JOURNEY_IDS.find((j) => j === delivered.journey);
	if (!contact || !journey) return [];
	const base = RESPONSE_RATES[journey][delivered.channel];
	if (!base) return [];
	const lift = PERSONA_LIFT[contact.persona] ?? 1;
	const random = rng(seedOf(`${scenario.seed}:${contact.userId}:${delivered.ordinal}`));
	const p = (rate: number) => Math.min(0.95, rate * lift);
	const out: Step[] = [];
	const ref = { channel: delivered.channel, ...(delivered.messageId ? { message_id: delivered.messageId } : {}) };
	let t = 1 + random() * 4;
	if (delivered.channel === 'email' && random() < p(base.open) * 1.2) out.push([t, 'Email Opened', ref]);
	const clicked = random() < p(base.click);
	if (clicked) out.push([(t += 1 + random() * 5), delivered.channel === 'email' ? 'Email Link Clicked' : delivered.channel === 'push' ? 'Push Notification Tapped' : 'SMS Link Clicked', ref]);
	// Converting mostly follows a click; a sales call converts without one.
	const converted = random() < p(base.convert) * (clicked || delivered.channel === 'sales_task' ? 2.5 : 0.5);
	if (converted) out.push([(t += 3 + random() * 15), conversionOf(journey, contact), conversionProperties(journey, contact, ref)]);
	return out.map(([offset, event, properties], i) => eventFor(contact, delivered.at + offset, event, properties, scenario.startedAt, `sim-${scenario.seed}-${contact.userId}-m${delivered.ordinal}-${i + 1}`));
}

function conversionOf(journey: JourneyId, contact: SimContact): string {
	if (journey === 'nurture') return 'Lead Converted';
	if (journey === 'cart-abandonment') return 'Order Completed';
	return contact.traits.plan === 'monthly' ? 'Offer Redeemed' : 'Subscription Renewed';
}

function conversionProperties(journey: JourneyId, contact: SimContact, ref: Record<string, unknown>): Record<string, unknown> {
	if (journey === 'cart-abandonment') return { ...orderOf(contact, contact.cart?.value ?? 0), ...ref };
	if (journey === 'churn-risk') return { offer: 'winback-20', plan: contact.traits.plan, revenue: Math.round(contact.traits.accountValue * 0.8), currency: 'USD', ...ref };
	return { deal_value: contact.traits.accountValue, currency: 'USD', ...ref };
}

/** One line per persona: how many contacts the scenario has of each, per journey. */
export function describeScenario(scenario: Scenario): string[] {
	return JOURNEY_IDS.map((journey) => {
		const counts = new Map<Persona, number>();
		for (const c of scenario.contacts.filter((x) => x.journey === journey)) counts.set(c.persona, (counts.get(c.persona) ?? 0) + 1);
		return `${journey.padEnd(17)} ${[...counts].map(([p, n]) => `${n} ${p}`).join(', ')}`;
	});
}

/** A person's verdict on a decision waiting for review, and how many scenario minutes it takes them. */
export interface Verdict {
	approve: boolean;
	reviewer: string;
	note: string;
	after: number;
}

/**
 * The account manager (churn risk) or the e-commerce manager (carts) looks at a decision sent to review:
 * most are approved, some rejected — the same way every run (seeded by the contact and the review's rank).
 */
export function reviewOf(scenario: Scenario, journey: string, contactUserId: string, ordinal: number): Verdict {
	const random = rng(seedOf(`${scenario.seed}:review:${contactUserId}:${ordinal}`));
	const reviewer = journey === 'churn-risk' ? 'account.manager@yourco.example' : 'ecommerce.manager@yourco.example';
	const approve = random() < 0.7;
	return { approve, reviewer, note: approve ? 'ok, worth keeping' : 'too generous for this customer', after: 3 + random() * 12 };
}
