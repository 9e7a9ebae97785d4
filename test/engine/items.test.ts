/** engine/items: how a node's item meets the engine, the rules both platforms' nodes share. */
import type { Decision } from '../../engine/audit/schema';
import { Engine } from '../../engine/engine';
import { NudgeError } from '../../engine/errors';
import {
	CHANNEL_OUTPUTS,
	channelOutput,
	decisionIdOf,
	DEFAULT_JOURNEY,
	guardOptionsOf,
	guardOutput,
	journeyOf,
	jsonObjectOf,
	openItem,
	outcomeReference,
	outcomeTime,
	routeGuard,
	routeSend,
} from '../../engine/items';
import { MemoryStore } from '../../engine/store/memory';

const decision = (status: Decision['status'], extra: Partial<Decision> = {}) => ({ decisionId: 'd_x', status, ...extra }) as Decision;

describe('decisionIdOf', () => {
	it.each([
		['an id', 'd_abc', 'd_abc'],
		['an id with spaces around', '  d_abc ', 'd_abc'],
		['a decision', { decisionId: 'd_abc', status: 'pending' }, 'd_abc'],
		['an item carrying a decision', { decision: { decisionId: 'd_abc' }, name: 'x' }, 'd_abc'],
		['an item carrying its id', { decisionId: 'd_abc', decision: { decisionId: 'd_other' } }, 'd_abc'],
	])('reads %s', (_, ref, id) => expect(decisionIdOf(ref)).toBe(id));

	it.each([
		['empty text', '  '],
		['an event', { type: 'track', name: 'Pricing Viewed' }],
		['an empty id', { decisionId: ' ' }],
		['a decision field that is text', { decision: 'yes' }],
		['a list', ['d_abc']],
		['a number', 42],
		['nothing', undefined],
	])('finds none in %s', (_, ref) => expect(decisionIdOf(ref)).toBeUndefined());
});

describe('journeyOf', () => {
	it('trims a journey and falls back to the default for empty or missing ones', () => {
		expect(DEFAULT_JOURNEY).toBe('nurture');
		expect(journeyOf(' churn-risk ')).toBe('churn-risk');
		for (const none of ['', '   ', undefined, null, 7]) expect(journeyOf(none)).toBe('nurture');
	});
});

describe('openItem', () => {
	const engine = () => new Engine({ store: new MemoryStore() });
	const event = { eventId: 'e-1', type: 'track', name: 'Pricing Viewed', identities: { email: 'ana@example.com' } };

	it('opens an event for the default journey, or the one given, and the engine does the same without one', async () => {
		const e = engine();
		expect((await openItem(e, { item: event })).journey).toBe('nurture');
		expect((await openItem(e, { item: { ...event, eventId: 'e-2' }, journey: 'churn-risk' })).journey).toBe('churn-risk');
		expect((await e.ingest({ ...event, eventId: 'e-3' })).decision.journey).toBe('nurture');
	});

	it('works on the decision named beside the item before the one the item carries', async () => {
		const e = engine();
		const first = await openItem(e, { item: event });
		const second = await openItem(e, { item: { ...event, eventId: 'e-2' } });
		expect((await openItem(e, { item: { decisionId: first.decisionId } })).decisionId).toBe(first.decisionId);
		expect((await openItem(e, { item: { decisionId: first.decisionId }, decision: second.decisionId })).decisionId).toBe(second.decisionId);
		await expect(openItem(e, { item: event, decision: 42 })).rejects.toThrow(/carries no Nudge decision/);
	});
});

describe('outputs', () => {
	it('Choose Channel: a pending or sent decision leaves by its channel, every other one by none', () => {
		expect(CHANNEL_OUTPUTS).toEqual(['email', 'sms', 'push', 'in_app', 'paid_audience', 'sales_task', 'none']);
		expect(channelOutput(decision('pending', { channel: 'sms' }))).toBe('sms');
		expect(channelOutput(decision('sent', { channel: 'push' }))).toBe('push');
		expect(channelOutput(decision('pending'))).toBe('none');
		for (const status of ['suppressed', 'failed', 'delayed', 'review'] as const) expect(channelOutput(decision(status, { channel: 'email' }))).toBe('none');
	});

	it('Frequency Cap and Send: output indexes and the fields an item gains', () => {
		const delayed = decision('delayed', { guard: { retryAt: '2026-12-04T09:00:00.000Z' } as Decision['guard'] });
		expect(routeGuard(delayed)).toEqual({ decision: delayed, output: 1, extra: { retryAt: '2026-12-04T09:00:00.000Z' } });
		expect(routeGuard(decision('sent')).output).toBe(0);
		expect(guardOutput(decision('pending'))).toBe('blocked');
		expect(routeGuard(decision('review')).output).toBe(3);
		expect(routeSend(decision('sent')).output).toBe(0);
		expect(routeSend(decision('failed')).output).toBe(1);
	});
});

describe('node settings', () => {
	it('guardOptionsOf keeps what is set, and names a channel or offer value that is not one', () => {
		expect(guardOptionsOf({ channel: '', category: ' promo ', tags: 'a, b,,', offerValue: '25', variant: '' })).toEqual({ category: 'promo', tags: ['a', 'b'], offerValue: 25 });
		expect(guardOptionsOf({ channel: 'sms', offerValue: 0 })).toEqual({ channel: 'sms' });
		expect(() => guardOptionsOf({ channel: 'fax' })).toThrow(/Channel "fax" is not a Nudge channel/);
		expect(() => guardOptionsOf({ offerValue: 'lots' })).toThrow(/Offer value must be a number \(got "lots"\)/);
	});

	it('jsonObjectOf reads text or an object, and says what is wrong with anything else', () => {
		expect(jsonObjectOf('', 'Annotations')).toEqual({});
		expect(jsonObjectOf('{"campaign": "spring"}', 'Annotations')).toEqual({ campaign: 'spring' });
		expect(jsonObjectOf({ a: 1 }, 'Annotations')).toEqual({ a: 1 });
		expect(() => jsonObjectOf('{campaign: spring}', 'Annotations')).toThrow(/^Annotations is not valid JSON \(.+\)\. Annotations must be a JSON object/);
		expect(() => jsonObjectOf('[1]', 'Annotations')).toThrow(NudgeError);
		// JSON.parse quotes short text in its message: a password in it is masked.
		let message = '';
		try {
			jsonObjectOf('p://u:pw@h', 'Annotations');
		} catch (error) {
			message = (error as Error).message;
		}
		expect(message).toContain('p://u:***@h');
		expect(message).not.toContain('pw');
	});

	it('outcomeReference takes the decision id, else the message id, else the contact with its channel', () => {
		expect(outcomeReference({ decisionId: ' d_1 ', messageId: 'm', contactId: 'c', channel: 'sms' })).toEqual({ decisionId: 'd_1' });
		expect(outcomeReference({ decisionId: '', messageId: 'm', contactId: 'c' })).toEqual({ messageId: 'm' });
		expect(outcomeReference({ contactId: 'c', channel: 'sms' })).toEqual({ contactId: 'c', channel: 'sms' });
		expect(outcomeReference({ messageId: 'm', channel: 'sms' })).toEqual({ messageId: 'm' });
		expect(outcomeReference({ decisionId: 7, channel: 'sms' })).toBeUndefined();
	});

	it('outcomeTime takes text, a Date or a DateTime as ISO text, empty as absent, and refuses what could be either unit', () => {
		expect(outcomeTime(' 2026-05-01T10:00:00Z ', 'Occurred At')).toBe('2026-05-01T10:00:00Z');
		expect(outcomeTime(new Date(Date.UTC(2026, 4, 1, 10)), 'Occurred At')).toBe('2026-05-01T10:00:00.000Z');
		// What an n8n expression such as {{ DateTime.fromSeconds($json.timestamp) }} hands the node.
		const dateTime = { isValid: true, toISO: () => '2026-05-01T12:00:00.000+02:00' };
		expect(outcomeTime(dateTime, 'Occurred At')).toBe('2026-05-01T12:00:00.000+02:00');
		for (const empty of [undefined, null, '', '  ']) expect(outcomeTime(empty, 'Occurred At')).toBeUndefined();
		expect(() => outcomeTime(1777629600, 'Occurred At')).toThrow('Occurred At must be a date-time such as "2026-05-01T10:00:00Z" or a Date (got the number 1777629600: seconds or milliseconds?)');
		expect(() => outcomeTime(new Date(NaN), 'msg.payload.at')).toThrow(/^msg\.payload\.at must be a date-time .* \(got an invalid Date\)$/);
		expect(() => outcomeTime({ isValid: false, toISO: () => null }, 'Occurred At')).toThrow(/Occurred At must be a date-time/);
		expect(() => outcomeTime({ at: 'x' }, 'Occurred At')).toThrow('Occurred At must be a date-time such as "2026-05-01T10:00:00Z" or a Date (got {"at":"x"})');
	});
});
