import { canMove, checkMove, moveTo, reopen, TRANSITIONS } from '../../engine/audit/status';
import { DECISION_STATUSES, type Decision, type DecisionStatus } from '../../engine/audit/schema';
import { NudgeError } from '../../engine/errors';

function decision(status: DecisionStatus): Decision {
	return { decisionId: 'd_test', status, reason: 'QUIET_HOURS', ruleId: 'quiet' } as Decision;
}

describe('the decision state machine', () => {
	test('the table, move by move', () => {
		const allowed = DECISION_STATUSES.flatMap((from) => DECISION_STATUSES.filter((to) => canMove(from, to)).map((to) => `${from}->${to}`));
		expect(allowed.sort()).toEqual(
			[
				'pending->pending', 'pending->delayed', 'pending->review', 'pending->sent', 'pending->failed', 'pending->suppressed',
				// A held decision (delayed, in review) is never sent straight away: it goes back to pending first.
				'delayed->pending', 'delayed->delayed', 'delayed->review', 'delayed->suppressed',
				'review->pending', 'review->suppressed',
			].sort(),
		);
	});

	test('sent, suppressed and failed are final', () => {
		for (const final of ['sent', 'suppressed', 'failed'] as const) {
			expect(TRANSITIONS[final]).toEqual([]);
			for (const to of DECISION_STATUSES) expect(canMove(final, to)).toBe(false);
		}
	});

	test('an illegal move throws a clear error and leaves the decision as it was', () => {
		const sent = decision('sent');
		let error: unknown;
		try {
			moveTo(sent, 'pending');
		} catch (e) {
			error = e;
		}
		expect(error).toBeInstanceOf(NudgeError);
		expect((error as NudgeError).code).toBe('CONFLICT');
		expect((error as NudgeError).message).toBe('Decision d_test cannot go from sent to pending (sent is final)');
		expect(sent.status).toBe('sent');
		expect(() => checkMove(decision('review'), 'delayed')).toThrow('Decision d_test cannot go from review to delayed');
		expect(() => reopen(decision('suppressed'))).toThrow('cannot go from suppressed to pending (suppressed is final)');
	});

	test('a legal move changes the status; reopen also drops the reason it was held for', () => {
		const held = decision('delayed');
		moveTo(held, 'review');
		expect(held.status).toBe('review');
		expect(held.reason).toBe('QUIET_HOURS');
		reopen(held);
		expect(held).toEqual({ decisionId: 'd_test', status: 'pending' });
	});
});
