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
