import type { INodePropertyOptions } from 'n8n-workflow';

/** The channel picker of a node: a first entry meaning "not one fixed channel" (value ''), then every channel. */
export function channelOptions(first: string): INodePropertyOptions[] {
	return [
		{ name: first, value: '' },
		{ name: 'Email', value: 'email' },
		{ name: 'In-App', value: 'in_app' },
		{ name: 'Paid Audience', value: 'paid_audience' },
		{ name: 'Push', value: 'push' },
		{ name: 'Sales Task', value: 'sales_task' },
		{ name: 'SMS', value: 'sms' },
	];
}
