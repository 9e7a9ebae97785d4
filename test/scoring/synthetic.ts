import type { Engine } from '../../engine/engine';
import { rng } from '../../engine/scoring/forest';
import type { Table } from '../../engine/scoring/table';

/** A synthetic CRM export where conversion depends on visits, source and a date, plus noise. */
export function synthetic(n: number, seed = 7): Table {
	const random = rng(seed);
	const sources = ['Google', 'Referral', 'Direct', 'Olark'];
	const rows: unknown[][] = [];
	for (let i = 0; i < n; i++) {
		const visits = Math.floor(random() * 20);
		const source = sources[Math.floor(random() * 4)];
		const days = Math.floor(random() * 60);
		const opted = random() < 0.5 ? 'Yes' : 'No';
		const z = visits / 5 + (source === 'Referral' ? 2 : 0) - days / 20 - 1.5 + (random() - 0.5) * 1.5;
		const seen = new Date(Date.UTC(2026, 0, 1) - days * 86_400_000).toISOString().slice(0, 10);
		rows.push([`id${i}`, String(visits), random() < 0.05 ? '' : source, seen, opted, z > 0 ? '1' : '0']);
	}
	return { columns: ['Lead Id', 'Visits', 'Source', 'Last Seen', 'Opted In', 'Converted'], rows };
}

/** `n` contacts with a demo request each; the odd ones ("pro" plan) convert. For learning-from-outcomes tests. */
export async function seedOutcomes(engine: Engine, n: number, prefix: string): Promise<void> {
	for (let c = 0; c < n; c++) {
		const { decision } = await engine.ingest({ type: 'track', name: 'Demo Requested', eventId: `${prefix}-${c}`, identities: { email: `${prefix}${c}@example.com` }, traits: { plan: c % 2 ? 'pro' : 'free' } });
		if (c % 2) await engine.recordOutcome({ decisionId: decision.decisionId, type: 'conversion' });
	}
}
