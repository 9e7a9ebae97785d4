/**
 * The demo's simulator: the same seed gives the same customers and events, night-time contacts really
 * are at night when the scenario starts, events follow the journeys' contract, and responses to messages
 * follow the channel rates (so the learner has a difference to find).
 */
import { DateTime } from 'luxon';
import { buildScenario, JOURNEY_IDS, responsesTo, reviewOf, RESPONSE_RATES, zonesAt } from '../../demo/simulator';

const AT = new Date('2026-11-21T13:00:00Z');

describe('buildScenario', () => {
	it('is deterministic for a seed and different for another', () => {
		const a = buildScenario({ seed: 7, startedAt: AT });
		const b = buildScenario({ seed: 7, startedAt: AT });
		const c = buildScenario({ seed: 8, startedAt: AT });
		expect(JSON.stringify(b)).toBe(JSON.stringify(a));
		expect(JSON.stringify(c.events.map((e) => e.call))).not.toBe(JSON.stringify(a.events.map((e) => e.call)));
	});

	it('has the mix of contacts each journey needs, with unique ids and events in time order', () => {
		const s = buildScenario({ seed: 42, perJourney: 20, startedAt: AT });
		expect(s.contacts).toHaveLength(60);
		expect(new Set(s.contacts.map((c) => c.userId)).size).toBe(60);
		expect(new Set(s.events.map((e) => e.call.messageId)).size).toBe(s.events.length);
		const personas = (journey: string) => new Set(s.contacts.filter((c) => c.journey === journey).map((c) => c.persona));
		expect([...personas('nurture')]).toEqual(expect.arrayContaining(['converter', 'cold-lead', 'opted-out', 'night-time', 'high-value']));
		expect([...personas('cart-abandonment')]).toEqual(expect.arrayContaining(['buyer', 'abandoner', 'abandoner-returns', 'opted-out', 'night-time']));
		expect([...personas('churn-risk')]).toEqual(expect.arrayContaining(['churner', 'churner-with-ticket', 'saved-subscriber', 'opted-out', 'night-time', 'high-value']));
		for (let i = 1; i < s.events.length; i++) expect(s.events[i].at).toBeGreaterThanOrEqual(s.events[i - 1].at);
		expect(s.events.filter((e) => e.retried)).toHaveLength(1);
	});

	it('puts night-time contacts where it is night, and everyone else in the working day', () => {
		for (const hour of [0, 5, 13, 21]) {
			const at = new Date(Date.UTC(2026, 10, 21, hour));
			const s = buildScenario({ seed: 3, startedAt: at });
			for (const c of s.contacts) {
				const local = DateTime.fromJSDate(at, { zone: c.traits.timezone }).hour;
				if (c.persona === 'night-time') expect(local >= 1 && local <= 5).toBe(true);
				else expect(local >= 10 && local <= 16).toBe(true);
			}
		}
		expect(zonesAt(AT).night.length).toBeGreaterThan(0);
	});

	it('speaks the journeys\' event contract (Segment spec), with consent and the traits the policies read', () => {
		const s = buildScenario({ seed: 42, startedAt: AT });
		const names = (journey: string) => new Set(s.events.filter((e) => e.journey === journey).map((e) => e.call.event ?? e.call.type));
		expect([...names('nurture')].sort()).toEqual(['Demo Requested', 'Lead Created', 'Pricing Viewed', 'Webinar Attended', 'identify']);
		expect([...names('cart-abandonment')].sort()).toEqual(['Cart Updated', 'Checkout Started', 'Order Completed', 'identify']);
		expect([...names('churn-risk')].sort()).toEqual(['Payment Failed', 'Ticket Closed', 'Ticket Opened', 'Usage Dropped', 'identify']);
		const cart = s.events.find((e) => e.call.event === 'Cart Updated')!.call.properties as { cart_id: string; value: number; products: Array<{ price: number; quantity: number }> };
		expect(cart.value).toBe(cart.products.reduce((sum, p) => sum + p.price * p.quantity, 0));
		for (const e of s.events) {
			expect(e.call.messageId).toBeTruthy();
			expect(e.call.userId).toBe(e.contact.userId);
			expect(Math.abs(Date.parse(e.call.timestamp!) - (AT.getTime() + e.at * 60_000))).toBeLessThan(1);
		}
		const optedOut = s.contacts.filter((c) => c.persona === 'opted-out');
		expect(optedOut.every((c) => Object.values(c.traits.consent).every((v) => v === 'opted_out'))).toBe(true);
		// A buyer orders well inside the shortest cart wait (30 minutes after checkout).
		for (const buyer of s.contacts.filter((c) => c.persona === 'buyer')) {
			const own = s.events.filter((e) => e.contact === buyer);
			const order = own.find((e) => e.call.event === 'Order Completed')!;
			expect(order.at - own.find((e) => e.call.event === 'Cart Updated')!.at).toBeLessThan(30);
		}
	});
});

describe('responsesTo', () => {
	const s = buildScenario({ seed: 42, perJourney: 200, startedAt: AT });

	it('gives the same responses to the same message every time', () => {
		const contact = s.contacts.find((c) => c.journey === 'cart-abandonment')!;
		const delivered = { journey: 'cart-abandonment', contactUserId: contact.userId, channel: 'sms', at: 50, ordinal: 1 };
		expect(responsesTo(s, delivered)).toEqual(responsesTo(s, delivered));
	});

	it('converts at rates that differ by channel as the journey\'s rates say, after the message', () => {
		for (const journey of JOURNEY_IDS) {
			const contacts = s.contacts.filter((c) => c.journey === journey);
			const rate = (channel: string) => {
				let converted = 0;
				for (const c of contacts) {
					const replies = responsesTo(s, { journey, contactUserId: c.userId, channel, at: 10, ordinal: 1 });
					for (const r of replies) expect(r.at).toBeGreaterThan(10);
					if (replies.some((r) => ['Lead Converted', 'Order Completed', 'Offer Redeemed', 'Subscription Renewed'].includes(r.call.event!))) converted++;
				}
				return converted / contacts.length;
			};
			const rates = RESPONSE_RATES[journey];
			const [best, worst] = Object.keys(rates)
				.filter((ch) => ch !== 'sales_task')
				.sort((a, b) => rates[b].convert - rates[a].convert);
			expect(rate(best)).toBeGreaterThan(rate(worst));
		}
	});

	it('answers only messages of the scenario\'s contacts and journeys', () => {
		expect(responsesTo(s, { journey: 'nurture', contactUserId: 'someone-else', channel: 'email', at: 1, ordinal: 1 })).toEqual([]);
		expect(responsesTo(s, { journey: 'nurture', contactUserId: s.contacts[0].userId, channel: 'carrier-pigeon', at: 1, ordinal: 1 })).toEqual([]);
	});
});

describe('reviewOf', () => {
	it('approves most reviews and rejects some, the same way every run', () => {
		const s = buildScenario({ seed: 42, startedAt: AT });
		const verdicts = s.contacts.map((c) => reviewOf(s, 'churn-risk', c.userId, 1));
		expect(verdicts).toEqual(s.contacts.map((c) => reviewOf(s, 'churn-risk', c.userId, 1)));
		const approved = verdicts.filter((v) => v.approve).length;
		expect(approved).toBeGreaterThan(verdicts.length / 2);
		expect(approved).toBeLessThan(verdicts.length);
		expect(verdicts.every((v) => v.reviewer.includes('@') && v.after > 0)).toBe(true);
	});
});
