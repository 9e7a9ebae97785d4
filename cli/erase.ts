import { parseContactArgs, withStoreEngine } from './contactArgs';

export const ERASE_USAGE = `  erase --contact ID | --email ADDRESS [--store PATH] [--suppress]
      Erases a contact (GDPR right to erasure): deletes its profile, identities, consent, timers and
      frequency-cap history, and pseudonymises its decisions (no identity, trait or message text is
      left; decisions, reasons and counts stay, so lift and audits do not change). --suppress also keeps
      a salted hash of its email and ids, so if the person comes back they are never contacted. Prints
      the erasure receipt (JSON, no personal data), which the store keeps too. See docs/privacy.md.
`;

export async function runErase(args: string[]): Promise<number> {
	const { contact, store, flag } = parseContactArgs('erase', args, { suppress: { type: 'boolean' } });
	const receipt = await withStoreEngine(store, (engine) => engine.eraseContact(contact, { suppress: flag('suppress') }));
	process.stdout.write(`${JSON.stringify(receipt, null, 2)}\n`);
	return 0;
}
