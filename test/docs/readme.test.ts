/**
 * The README shows what `npm start` prints. Its running and final summaries, read back into counts and printed
 * again by the demo's own formatter, must come out as shown: a change of format (words, order, columns) that
 * the README does not follow fails here.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DecisionOutcome, OUTCOMES, runningLine, summaryLines, Tally } from '../../demo/summary';

const README = readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');
const SAMPLE = (/```\n(Nudge demo: [\s\S]*?)```/.exec(README)?.[1] ?? '').split('\n');

const empty = (): Tally => ({ decisions: 0, byJourney: new Map(), byOutcome: new Map(), byReason: new Map(), byChannel: new Map(), outcomes: new Map() });
/** "A 1, B 2" as a map. */
const pairs = <K extends string>(text: string) => new Map(text.split(', ').map((p) => [p.slice(0, p.lastIndexOf(' ')) as K, Number(p.slice(p.lastIndexOf(' ') + 1))]));
const isOutcome = (o: string): o is DecisionOutcome => (OUTCOMES as readonly string[]).includes(o);

describe('README: the demo sample', () => {
	it('is there', () => {
		expect(SAMPLE.length).toBeGreaterThan(20);
	});

	it('its running summary line is in the format the demo prints', () => {
		const line = SAMPLE.find((l) => l.startsWith('-- '));
		const m = /^-- +\d+ s: (\d+) decisions \((.*)\) · (.*)$/.exec(line ?? '');
		expect(m).not.toBeNull();
		const t = empty();
		t.decisions = Number(m![1]);
		for (const [journey, n] of pairs(m![2])) t.byJourney.set(journey, new Map([['sent', n]]));
		t.byOutcome = pairs<DecisionOutcome>(m![3]);
		expect([...t.byOutcome.keys()].every(isOutcome)).toBe(true);
		expect(line).toContain(runningLine(t));
	});

	it('its final summary is in the format the demo prints', () => {
		const from = SAMPLE.indexOf('By journey and outcome:');
		const to = SAMPLE.indexOf('', from);
		const shown = SAMPLE.slice(from, to);
		const t = empty();
		for (const line of shown.slice(1)) {
			const row = /^ {2}(\S.*?) +\d+ decisions: (.*)$/.exec(line);
			const learned = /^ {2}(\S+ \S+) +(\d+) → +(\d+) {2}\(\d+%\)$/.exec(line);
			if (row?.[1] === 'all journeys') t.byOutcome = pairs(row[2]);
			else if (row) t.byJourney.set(row[1], pairs(row[2]));
			else if (line.startsWith('  reasons: ')) t.byReason = pairs(line.slice('  reasons: '.length));
			else if (line.startsWith('  outcomes recorded: ')) t.outcomes = pairs(line.slice('  outcomes recorded: '.length));
			else if (learned) t.byChannel.set(learned[1], { sent: Number(learned[2]), converted: Number(learned[3]) });
		}
		expect(t.byJourney.size).toBeGreaterThan(0);
		expect(t.byChannel.size).toBeGreaterThan(0);
		expect(shown).toEqual(summaryLines(t));
	});
});
