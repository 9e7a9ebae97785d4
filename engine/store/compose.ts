import { ComposedSteps } from './folded';
import type {
	CapLedgerStore,
	ClaimStore,
	CursorStore,
	DecisionLog,
	ErasureCounts,
	FoldedSteps,
	LearnerStatsStore,
	ModelStore,
	ProfileStore,
	RetentionStore,
	RewardRecords,
	Store,
	StoreLifecycle,
	SuppressionRecords,
	TimerStore,
	VariantRecords,
} from './types';

/** The roles a composed store places on one backend each: their methods are forwarded to it. */
interface PlacedRoles {
	profiles: ProfileStore;
	claims: ClaimStore;
	caps: CapLedgerStore;
	decisions: DecisionLog;
	models: ModelStore;
	cursors: CursorStore;
	timers: TimerStore;
	learnerStats: LearnerStatsStore;
}
export type StoreRole = keyof PlacedRoles;

/** Each placed role's methods, every one listed (the type refuses a missing or unknown name). */
const ROLE_METHODS: { [R in StoreRole]: Record<keyof PlacedRoles[R], true> } = {
	profiles: { getProfile: true, resolveIdentities: true, saveProfile: true, inactiveContacts: true },
	claims: { claimKey: true, releaseKey: true, holdKey: true, keyHeldUntil: true },
	caps: { reserveCap: true, peekCap: true, settleCap: true, moveCapLedger: true },
	decisions: { putDecision: true, getDecision: true, queryDecisions: true, addOutcome: true, findDecisionByMessageId: true, listDecisionSummaries: true, countDecisions: true, deleteDecisions: true },
	models: { saveModelVersion: true, getModelVersion: true, activeModelVersion: true, listModelVersions: true, activateModelVersion: true, modelActivations: true },
	cursors: { getCursor: true, setCursor: true, deleteCursor: true },
	timers: { scheduleTimer: true, cancelTimer: true, takeDueTimers: true, ackTimer: true },
	learnerStats: { getArmStats: true, getSendHours: true, addArmStats: true },
};

/** The placed roles each folded step touches (roles.ts FoldedSteps; the type refuses a missing or unknown step). */
const FOLDED_STEP_ROLES: Record<keyof FoldedSteps, StoreRole[]> = {
	claimKeyUnlessMarked: ['claims'],
	claimKeyUnlessMarkedAndLock: ['claims', 'profiles', 'cursors'],
	finishTakeIn: ['profiles', 'claims'],
	lockAndReadProfiles: ['claims', 'profiles', 'cursors'],
	saveProfileAndRelease: ['profiles', 'claims'],
	reserveCapAndClaim: ['caps', 'claims'],
	peekCapAndReadArmStats: ['caps', 'learnerStats', 'claims', 'profiles'],
	settleCapAndCount: ['caps', 'learnerStats'],
};

/**
 * Every role, placed or not: lifecycle and retention span the parts and are combined below; the folded steps go to
 * the part keeping all their roles, or are composed over the composed store (folded.ts), like the named records
 * (records.ts).
 */
interface AllRoles extends PlacedRoles {
	lifecycle: StoreLifecycle;
	retention: RetentionStore;
	folded: FoldedSteps;
	variants: VariantRecords;
	rewards: RewardRecords;
	suppressions: SuppressionRecords;
}
type MethodsOf<R extends keyof AllRoles> = keyof AllRoles[R];
/** Store members in no role. */
type Unplaced = Exclude<keyof Store, { [R in keyof AllRoles]: MethodsOf<R> }[keyof AllRoles]>;
/** Members in more than one role. */
type Doubled = { [R in keyof AllRoles]: MethodsOf<R> & { [O in Exclude<keyof AllRoles, R>]: MethodsOf<O> }[Exclude<keyof AllRoles, R>] }[keyof AllRoles];
type Holds<T extends true> = T;
/** Compile-time: every Store member belongs to exactly one role, so a new method cannot be left out of compositions. */
export type EveryStoreMethodInOneRole = Holds<[Unplaced | Doubled] extends [never] ? true : false>;

/** Which part keeps each placed role. */
export type Placement<P> = { readonly [R in StoreRole]: keyof P & string };

/** A store built of parts; `parts` reaches each as itself (tests read a backend directly). */
export type ComposedStore<P extends Record<string, Store>> = Store & { readonly parts: P };

/**
 * A store with each role on the part `placement` names. Erasure asks every part (each erases what it holds, the
 * others find nothing of its kind) and adds the counts; pruning goes to the part keeping the cap ledger or the
 * claims; sync and close reach every part. A folded step goes to the part keeping every role it touches (one round
 * trip on Redis); one whose roles are on different parts runs its plain methods in turn over the composed store.
 * The kind is the parts' kinds joined by `+`, in the order given.
 */
export function composeStore<P extends Record<string, Store>>(parts: P, placement: Placement<P>): ComposedStore<P> {
	const all = Object.values(parts);
	const forwarded: Record<string, unknown> = {};
	const forward = (name: keyof P & string, method: string) => {
		const part = parts[name] as unknown as Record<string, (...args: unknown[]) => unknown>;
		forwarded[method] = part[method].bind(part);
	};
	for (const role of Object.keys(ROLE_METHODS) as StoreRole[]) {
		for (const method of Object.keys(ROLE_METHODS[role])) forward(placement[role], method);
	}
	// The one part keeping every role of a step, if one does.
	const partOf = (roles: StoreRole[]) => (new Set(roles.map((role) => placement[role])).size === 1 ? placement[roles[0]] : undefined);
	for (const [step, roles] of Object.entries(FOLDED_STEP_ROLES)) {
		// Roles on different parts: the composed default (folded.ts, inherited) runs the plain methods over this store.
		const part = partOf(roles);
		if (part) forward(part, step);
	}
	const lockingPart = partOf(FOLDED_STEP_ROLES.lockAndReadProfiles);
	const lookingPart = partOf(FOLDED_STEP_ROLES.peekCapAndReadArmStats);
	const combined: StoreLifecycle & RetentionStore & { parts: P } = {
		parts,
		kind: all.map((part) => part.kind).join('+'),
		profileHolder: parts[placement.profiles].profileHolder ?? parts[placement.profiles],
		shared: all.some((part) => part.shared),
		readsRecordsWithLocks: !!lockingPart && !!parts[lockingPart].readsRecordsWithLocks,
		foldsTakeIn: !!lookingPart && !!parts[lookingPart].foldsTakeIn,
		async sync() {
			await Promise.all(all.map((part) => part.sync()));
		},
		async close() {
			await Promise.all(all.map((part) => part.close()));
		},
		async eraseContact(erasure) {
			const counts = await Promise.all(all.map((part) => part.eraseContact(erasure)));
			return counts.reduce((sum, c) => {
				for (const key of Object.keys(sum) as (keyof ErasureCounts)[]) sum[key] += c[key];
				return sum;
			});
		},
		pruneExpired(target, before, dryRun) {
			return parts[target === 'capLedger' ? placement.caps : placement.claims].pruneExpired(target, before, dryRun);
		},
	};
	return Object.assign(new ComposedSteps(), forwarded as Omit<Store, keyof (StoreLifecycle & RetentionStore & FoldedSteps & VariantRecords & RewardRecords & SuppressionRecords)>, combined);
}
