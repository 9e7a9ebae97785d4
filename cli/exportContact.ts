import { NudgeError } from '../engine/errors';
import { parseContactArgs, withStoreEngine } from './contactArgs';
import { OPTIONS } from './export';

export const EXPORT_CONTACT_USAGE = `  export --contact ID | --email ADDRESS [--store PATH]
      Everything the store holds about one contact (GDPR right of access) as one JSON document: its
      profile (identities, traits, consent, event counts), its send-time engagement hours and every
      decision about it with scores, checks, deliveries and outcomes. See docs/privacy.md. It takes
      --store only (the log export's --format, --out and filters are refused with it): > FILE.json saves it.
`;

/** `nudge export` with --contact or --email is a contact's record; without, the decision log export. */
const isContactOption = (a: string) => /^--(contact|email)(=|$)/.test(a);
export const isContactExport = (args: string[]) => args.some(isContactOption);

export async function runExportContact(args: string[]): Promise<number> {
	// The log export's options (--format, --out, --journey…) mean nothing for one contact's record: named as the
	// conflict they are, not as an unknown option of a command whose help lists them.
	const by = args.find(isContactOption)!.replace(/=.*/, '');
	const logOption = args.map((a) => /^--([^=]+)/.exec(a)?.[1]).find((name) => name !== undefined && name !== 'store' && Object.hasOwn(OPTIONS, name));
	if (logOption) {
		throw new NudgeError('INVALID_INPUT', `--${logOption} is not used with ${by}: a contact's export is one JSON document (everything about them) on stdout; save it with > FILE.json. --${logOption} belongs to the decision log export: leave out ${by} for that`);
	}
	const { contact, store } = parseContactArgs('export', args);
	const record = await withStoreEngine(store, (engine) => engine.contactRecord(contact));
	process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
	return 0;
}
