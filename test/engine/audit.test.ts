import { parse } from 'csv-parse/sync';
import { csvField, DECISION_CSV_COLUMNS, decisionCsvHeader, decisionCsvRow } from '../../engine/audit/csv';
import { exportDecisions, exportJsonl, iterateDecisions } from '../../engine/audit/export';
import { MemoryStore } from '../../engine/store/memory';
import { decision } from '../helpers/fixtures';

describe('decision log export', () => {
	test('pages through every matching decision in creation order and writes JSONL', async () => {
		const store = new MemoryStore();
		for (let i = 0; i < 25; i++) {
			await store.putDecision(decision(`d${String(i).padStart(2, '0')}`, { createdAt: `2026-11-01T00:00:${String(i).padStart(2, '0')}.000Z`, journey: i % 2 ? 'a' : 'b' }));
		}
		const seen: string[] = [];
		for await (const d of iterateDecisions(store, { journey: 'a' }, 4)) seen.push(d.decisionId);
		expect(seen).toEqual(Array.from({ length: 12 }, (_, k) => `d${String(2 * k + 1).padStart(2, '0')}`));
		const lines: string[] = [];
		expect(await exportJsonl(store, {}, (l) => lines.push(l))).toBe(25);
		expect(lines.every((l) => l.endsWith('\n'))).toBe(true);
		expect(JSON.parse(lines[24]).decisionId).toBe('d24');
	});

	test('--redact masks personal data in annotation keys as in values, national phone numbers, and credentials', async () => {
		const store = new MemoryStore();
		const annotations = { 'sent to jane.doe@example.com': true, note: 'call back on 020 7946 0958 or 06 12 34 56 78', webhook: { status: 200, accessToken: 'at-9b8c7d' } };
		await store.putDecision(decision('d1', { explanation: 'Invited jane.doe@example.com', annotations }));
		let out = '';
		expect(await exportDecisions(store, {}, { format: 'jsonl', redact: true }, (chunk) => void (out += chunk))).toBe(1);
		expect(JSON.parse(out).annotations).toEqual({ 'sent to [email redacted]': true, note: 'call back on [phone redacted] or [phone redacted]', webhook: { status: 200, accessToken: '[redacted]' } });
		expect(out).not.toMatch(/jane\.doe|7946|12 34 56|at-9b8c7d/);
	});

	test('CSV: fields with commas, quotes and line breaks survive a CSV reader; formulas from outside do not run', () => {
		expect(csvField('plain')).toBe('plain');
		expect(csvField('a, "b"\nc')).toBe('"a, ""b""\nc"');
		expect(csvField(undefined)).toBe('');
		expect(csvField(0)).toBe('0');
		expect(csvField(-0.5)).toBe('-0.5');
		expect(csvField(['x', 'y'])).toBe('"[""x"",""y""]"');
		// A spreadsheet runs text starting with = + - @ as a formula: event names and ids come from senders.
		expect(csvField('=HYPERLINK("http://evil.example","x")')).toBe(`"'=HYPERLINK(""http://evil.example"",""x"")"`);
		expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
		expect(csvField('-1+1')).toBe("'-1+1");
		const d = decision('d1', { explanation: 'two lines,\n"quoted"', event: { eventId: 'e1', source: 'segment', type: 'track', name: '+cmd', occurredAt: '2026-11-01T00:00:00.000Z' }, annotations: { note: 'a,b' } });
		const [row] = parse(decisionCsvHeader() + decisionCsvRow(d), { columns: true }) as Record<string, string>[];
		expect(Object.keys(row)).toEqual(DECISION_CSV_COLUMNS);
		expect(row).toMatchObject({ decisionId: 'd1', explanation: 'two lines,\n"quoted"', eventName: "'+cmd", annotations: '{"note":"a,b"}', converted: 'false', channel: '' });
	});
});
