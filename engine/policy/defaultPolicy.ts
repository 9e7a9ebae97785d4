import type { PolicyInput } from './schema';

/**
 * Works out of the box: email first (unknown consent allowed, as for most B2B lists), SMS and push only
 * with explicit opt-in, at most 3 marketing messages a week and 1 email a day per contact.
 */
export const DEFAULT_POLICY: PolicyInput = {
	name: 'default',
	timezone: 'UTC',
	channelOrder: ['email', 'sms', 'push'],
	channels: {
		email: { unknownConsent: 'allow' },
		sms: { unknownConsent: 'deny' },
		push: { unknownConsent: 'deny' },
		sales_task: { unknownConsent: 'allow' },
	},
	journeys: {
		nurture: { channels: ['email', 'sms', 'push'] },
	},
	caps: [
		{ id: 'email-daily', description: 'At most one email a day', scope: { kind: 'channel', channel: 'email' }, limit: 1, window: { kind: 'rolling', duration: '24h' } },
		{ id: 'all-weekly', description: 'At most three messages a week on any channel', scope: { kind: 'any' }, limit: 3, window: { kind: 'rolling', duration: '7d' } },
	],
	scoring: {
		base: 10,
		rules: [
			{ id: 'demo', label: 'Requested a demo', field: 'counters.Demo Requested', op: 'gte', value: 1, points: 40 },
			{ id: 'pricing', label: 'Viewed the pricing page', field: 'counters.Pricing Viewed', op: 'gte', value: 1, points: 20 },
			{ id: 'clicks', label: 'Clicked an email', field: 'counters.Email Clicked', op: 'gte', value: 1, points: 15 },
			{ id: 'opens', label: 'Opened 3+ emails', field: 'counters.Email Opened', op: 'gte', value: 3, points: 10 },
			{ id: 'title', label: 'Senior job title', field: 'traits.title', op: 'in', value: ['VP', 'Director', 'Head', 'CEO', 'CTO', 'CMO', 'Founder'], points: 15 },
			{ id: 'company', label: 'Company size 50+', field: 'traits.employees', op: 'gte', value: 50, points: 10 },
			{ id: 'student', label: 'Student email address', field: 'traits.email', op: 'contains', value: '.edu', points: -20 },
		],
		tiers: { hot: 70, warm: 40 },
	},
	reservationTimeoutSeconds: 300,
	dedupWindowHours: 72,
};
