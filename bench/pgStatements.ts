import { Client } from 'pg';

/** Counts every statement any pg client of this process sends, by its first word (INSERT, SELECT, BEGIN…). */
export function countStatements(): Record<string, number> {
	const counts: Record<string, number> = {};
	const query = Client.prototype.query as (...args: unknown[]) => unknown;
	Client.prototype.query = function (this: unknown, ...args: unknown[]) {
		const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string })?.text ?? '');
		const word = text.trim().split(/\s/)[0].toUpperCase();
		counts[word] = (counts[word] ?? 0) + 1;
		return query.apply(this, args);
	} as typeof Client.prototype.query;
	return counts;
}
