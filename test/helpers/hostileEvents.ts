/** Events a hostile or broken sender might post: each must be refused with a clear error and store nothing. */

/** `{a: {a: … {a: 1}}}` with `levels` objects, built without recursion. */
export function nested(levels: number): Record<string, unknown> {
	let value: Record<string, unknown> = { a: 1 };
	for (let i = 1; i < levels; i++) value = { a: value };
	return value;
}

/** An array of `items` numbers. */
export const wide = (items: number) => Array.from({ length: items }, (_, i) => i);

const base = { type: 'identify', identities: { email: 'mallory@example.com' } };

/** `nested(levels)` as JSON text, written out: JSON.stringify overflows the stack at a few thousand levels. */
export const nestedJson = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;

/** One of each kind, as JSON text (a sender's bytes; JSON.parse makes prototype keys own properties). */
export function hostileEvents(): Record<string, string> {
	const withTraits = (traits: unknown) => ({ ...base, traits });
	const events: Record<string, unknown> = {
		'a 20 KB string value': { ...base, properties: { note: 'x'.repeat(20_480) } },
		'a 1 MB string value': withTraits({ bio: 'y'.repeat(1 << 20) }),
		'a 200-character key': withTraits({ ['k'.repeat(200)]: 1 }),
		'a 1,000-character event name': { type: 'track', name: 'n'.repeat(1_000), identities: { userId: 'u' } },
		'a 10 KB userId': { type: 'identify', identities: { userId: 'u'.repeat(10_000) } },
		'a 10 KB Segment messageId': { type: 'identify', userId: 'u', messageId: 'm'.repeat(10_000) },
		'an array nested 50 levels': { ...base, properties: { list: JSON.parse(`${'['.repeat(50)}${']'.repeat(50)}`) } },
		'100,000 array items': { ...base, properties: { items: wide(100_000) } },
		'2,000 keys': withTraits(Object.fromEntries(Array.from({ length: 2_000 }, (_, i) => [`t${i}`, i]))),
		'a __proto__ key': JSON.parse('{"type":"identify","identities":{"userId":"u"},"traits":{"__proto__":{"polluted":true}}}'),
		'a constructor.prototype key': JSON.parse('{"type":"identify","identities":{"userId":"u"},"traits":{"constructor":{"prototype":{"polluted":true}}}}'),
		'a prototype key in an array': JSON.parse('{"type":"identify","identities":{"userId":"u"},"properties":{"list":[{"prototype":{"polluted":true}}]}}'),
		'a top-level __proto__': JSON.parse('{"type":"identify","identities":{"userId":"u"},"__proto__":{"polluted":true}}'),
		'a NUL in a value': withTraits({ plan: 'pro\u0000' }),
		'a NUL in a key': withTraits({ 'pl\u0000an': 'pro' }),
		'a lone surrogate in a value': withTraits({ plan: '\udc00pro' }),
		'a lone surrogate in the event name': { type: 'track', name: 'Demo \ud83d', identities: { userId: 'u' } },
		'a lone surrogate in a key': withTraits({ '\ud800': 'pro' }),
		'traits as an array': withTraits(['plan']),
		'traits as a string': withTraits('plan=pro'),
		'identities as a number': { type: 'identify', identities: 42 },
		'type as a number': { type: 7, identities: { userId: 'u' } },
		'an unknown type': { type: 'purchase', identities: { userId: 'u' } },
		'name as an object': { type: 'track', name: { first: 'Demo' }, identities: { userId: 'u' } },
		'email as a number': { type: 'identify', identities: { email: 12345 } },
		'occurredAt as a number': { ...base, occurredAt: 1_700_000_000 },
		'no contact': { type: 'identify', identities: {} },
		'a Segment userId as an object': { type: 'identify', userId: { id: 1 } },
	};
	const texts = Object.fromEntries(Object.entries(events).map(([kind, event]) => [kind, JSON.stringify(event)]));
	return { ...texts, 'traits nested 5,000 levels': `{"type":"identify","identities":{"userId":"u"},"traits":${nestedJson(5_000)}}` };
}
