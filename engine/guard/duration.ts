const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** "24h" → 86 400 000. The policy schema has already checked the format. */
export function durationMs(duration: string): number {
	const unit = duration.slice(-1) as keyof typeof UNIT_MS;
	return Number(duration.slice(0, -1)) * UNIT_MS[unit];
}
