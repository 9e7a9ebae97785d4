import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import { loadEngine, nudgeEngineConnectionTest, toNodeError } from '../shared/engine';
import { engineCredentials } from '../shared/description';

// An erase must never be an AI-agent tool (DESIGN §12: admin operations are never tools).
// eslint-disable-next-line @n8n/community-nodes/node-usable-as-tool
export class NudgeContactData implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Nudge Contact Data',
		name: 'nudgeContactData',
		icon: { light: 'file:nudgeContactData.svg', dark: 'file:nudgeContactData.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["operation"] === "erase" ? "Erase contact" : "Export contact"}}',
		description: 'Answers a data request (GDPR): exports everything Nudge holds about a contact, or erases the contact',
		defaults: { name: 'Nudge Contact Data' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: engineCredentials(),
		properties: [
			{
				displayName: 'Operation',
				name: 'operation',
				type: 'options',
				noDataExpression: true,
				options: [
					{ name: 'Export', value: 'export', action: 'Export a contact', description: 'Everything held about the contact as one JSON document' },
					{
						name: 'Erase',
						value: 'erase',
						action: 'Erase a contact',
						description: 'Delete the profile and pseudonymise the decision log (counts and lift stay the same)',
					},
				],
				default: 'export',
			},
			{
				displayName: 'Find Contact By',
				name: 'findBy',
				type: 'options',
				options: [
					{ name: 'Email', value: 'email' },
					{ name: 'Contact ID', value: 'contactId' },
				],
				default: 'email',
			},
			{
				displayName: 'Email',
				name: 'email',
				type: 'string',
				default: '={{ $json.email }}',
				placeholder: 'name@email.com',
				required: true,
				description: 'An email address the contact was seen with',
				displayOptions: { show: { findBy: ['email'] } },
			},
			{
				displayName: 'Contact ID',
				name: 'contactId',
				type: 'string',
				default: '={{ $json.contactId }}',
				required: true,
				description: 'The Nudge contact ID (in every decision, as contactId)',
				displayOptions: { show: { findBy: ['contactId'] } },
			},
			{
				displayName: 'Never Contact Again',
				name: 'suppress',
				type: 'boolean',
				default: false,
				description:
					'Whether to keep a salted hash of the person’s email and IDs, so that if they come back they are never contacted (for people who asked to be forgotten and not contacted)',
				displayOptions: { show: { operation: ['erase'] } },
			},
		],
	};

	methods = { credentialTest: { nudgeEngineConnectionTest } };

	/** One request per item: the item's output is the contact's record, or the erasure receipt. */
	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const out: INodeExecutionData[] = [];
		// Once for all items; a failure is each item's (with Continue On Fail, each becomes an error item).
		const loaded = loadEngine(this);
		loaded.catch(() => undefined);
		for (let item = 0; item < items.length; item++) {
			try {
				const { engine } = await loaded;
				const findBy = this.getNodeParameter('findBy', item, 'email') as 'email' | 'contactId';
				const contact = { [findBy]: String(this.getNodeParameter(findBy, item, '') ?? '') };
				const result =
					this.getNodeParameter('operation', item, 'export') === 'erase'
						? await engine.eraseContact(contact, { suppress: this.getNodeParameter('suppress', item, false) as boolean })
						: await engine.contactRecord(contact);
				out.push({ json: result as unknown as IDataObject, pairedItem: { item } });
			} catch (error) {
				const nodeError = toNodeError(this.getNode(), error, item);
				if (!this.continueOnFail()) throw nodeError;
				out.push({ json: { error: nodeError.message }, pairedItem: { item } });
			}
		}
		return [out];
	}
}
