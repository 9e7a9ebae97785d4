/**
 * Seeded random numbers and the two posterior samplers the learner needs (Beta and Normal).
 *
 * Written here rather than taken from a library: the one well-kept pure-JS option
 * (@stdlib/random-base-beta + -normal) installs 230 packages / 24 MB for two functions. These are the
 * textbook algorithms (Marsaglia–Tsang gamma, Box–Muller normal), tested against their moments in
 * test/engine/learner.test.ts.
 */

/** A uniform generator on [0, 1). */
export type Random = () => number;

/** mulberry32: a small, fast, well-distributed 32-bit generator; the same seed gives the same sequence. */
export function seededRandom(seed: number): Random {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

/** Standard normal (Box–Muller). */
export function sampleNormal(random: Random, mean = 0, sd = 1): number {
	let u = random();
	while (u <= Number.MIN_VALUE) u = random();
	return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Gamma(shape, 1) by Marsaglia and Tsang (2000); shape < 1 via the boost Gamma(a+1)·U^(1/a). */
export function sampleGamma(random: Random, shape: number): number {
	if (!(shape > 0)) throw new RangeError(`gamma shape must be positive, got ${shape}`);
	if (shape < 1) return sampleGamma(random, shape + 1) * Math.pow(random() || Number.MIN_VALUE, 1 / shape);
	const d = shape - 1 / 3;
	const c = 1 / Math.sqrt(9 * d);
	for (;;) {
		let x: number;
		let v: number;
		do {
			x = sampleNormal(random);
			v = 1 + c * x;
		} while (v <= 0);
		v = v * v * v;
		const u = random();
		if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
	}
}

/** Beta(a, b) as G_a / (G_a + G_b). */
export function sampleBeta(random: Random, a: number, b: number): number {
	const x = sampleGamma(random, a);
	return x / (x + sampleGamma(random, b));
}
