/**
 * Trained scoring models as the store keeps them: numbered versions per model name, at most one
 * active, and a log of every activation and rollback. The store holds the serialised model as text;
 * engine/scoring/registry.ts validates a model before it is stored or activated.
 */
export interface ModelVersionInfo {
	name: string;
	/** 1, 2, 3… per name, in the order versions were saved. */
	version: number;
	createdAt: string;
	active: boolean;
	/** Training summary, feature spec fingerprint and evaluation, for listing without the trees. */
	meta: Record<string, unknown>;
}

export interface ModelVersionRecord extends ModelVersionInfo {
	/** The serialised model (engine/scoring/model.ts serializeModel). */
	body: string;
}

export interface ModelActivation {
	name: string;
	version: number;
	/** The version that was active before, if any. */
	previous?: number;
	action: 'activate' | 'rollback';
	at: string;
	note?: string;
}

/** An activation as the SQL backends keep it: absent previous / note are NULL. */
export interface ActivationRow {
	version: number | string;
	previous: number | string | null;
	action: ModelActivation['action'];
	at: string;
	note: string | null;
}

export function activationFromRow(name: string, r: ActivationRow): ModelActivation {
	return {
		name,
		version: Number(r.version),
		...(r.previous !== null ? { previous: Number(r.previous) } : {}),
		action: r.action,
		at: r.at,
		...(r.note !== null ? { note: r.note } : {}),
	};
}
