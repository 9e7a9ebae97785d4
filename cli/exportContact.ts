import { parseContactArgs, withStoreEngine } from './contactArgs';

export const EXPORT_CONTACT_USAGE = `  export --contact ID | --email ADDRESS [--store PATH]
      Everything the store holds about one contact (GDPR right of access) as one JSON document: its
      profile (identities, traits, consent, event counts), its send-time engagement hours and every
      decision about it with scores, checks, deliveries and outcomes. See docs/privacy.md.
`;

/** `nudge export` with --contact or --email is a contact's record; without, the decision log export. */
export const isContactExport = (args: string[]) => args.some((a) => /^--(contact|email)(=|$)/.test(a));

export async function runExportContact(args: string[]): Promise<number> {
	const { contact, store } = parseContactArgs('export', args);
	const record = await withStoreEngine(store, (engine) => engine.contactRecord(contact));
	process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
	return 0;
}
