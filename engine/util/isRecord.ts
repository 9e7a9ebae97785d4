/** A JSON object (not null, not an array): what a field must be before its own fields are read. */
export function isRecord(value: unknown): value is Record<string, unknown> {
	return !!value && typeof value === 'object' && !Array.isArray(value);
}
