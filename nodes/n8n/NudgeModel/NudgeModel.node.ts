import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';
import { stat } from 'node:fs/promises';
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';
import { dataFileNotRegular, dataFileTooLarge, dataFileUnreadable, dataTable, MAX_DATA_FILE_BYTES, modelOperation, ModelRequest, tableFromText } from '../../../engine';
import { loadEngine, nudgeEngineConnectionTest, toNodeError } from '../shared/engine';
import { engineCredentials } from '../shared/description';

const list = (v: string) =>
	v
		.split(',')
		.map((s) => s.trim())
		.filter(Boolean);

/**
 * The data file, read only as n8n lets nodes read files (its Read/Write Files node does the same): inside
 * N8N_RESTRICT_FILE_ACCESS_TO (n8n 2's default ~/.n8n-files), outside n8n's own folder and N8N_BLOCK_FILE_PATTERNS
 * (.git folders), no symbolic link on the way. Reading the path directly let a workflow read n8n's database or its
 * encryption key's file, which n8n refuses to its own nodes.
 */
async function readDataFile(ctx: IExecuteFunctions, filePath: string) {
	const path = filePath.trim();
	if (!path) throw new NodeOperationError(ctx.getNode(), 'Set the File Path of the CSV, JSON or JSONL file to learn from');
	let resolved: Awaited<ReturnType<IExecuteFunctions['helpers']['resolvePath']>>;
	let text: string;
	let size = 0;
	try {
		resolved = await ctx.helpers.resolvePath(path);
	} catch (error) {
		throw new NodeOperationError(ctx.getNode(), dataFileUnreadable(path, error));
	}
	if (ctx.helpers.isFilePathBlocked(resolved)) {
		throw new NodeOperationError(
			ctx.getNode(),
			`n8n does not let nodes read ${path}: put the file in a folder N8N_RESTRICT_FILE_ACCESS_TO allows (n8n 2's default is ~/.n8n-files), not in n8n's own folder or a .git folder`,
		);
	}
	// n8n's read stream opens a named pipe and waits for a writer, for ever (a thread of its pool blocked with it).
	let info: Awaited<ReturnType<typeof stat>>;
	try {
		info = await stat(resolved);
	} catch (error) {
		throw new NodeOperationError(ctx.getNode(), dataFileUnreadable(path, error));
	}
	if (!info.isFile()) throw new NodeOperationError(ctx.getNode(), dataFileNotRegular(path, info.isDirectory()));
	if (info.size > MAX_DATA_FILE_BYTES) throw new NodeOperationError(ctx.getNode(), dataFileTooLarge(path));
	try {
		const chunks: Buffer[] = [];
		// Counted as it comes: a file past the limit (or a device that never ends) stops the read (leaving the loop
		// closes the stream), not n8n.
		for await (const chunk of await ctx.helpers.createReadStream(resolved)) {
			size += (chunk as Buffer).length;
			if (size > MAX_DATA_FILE_BYTES) break;
			chunks.push(chunk as Buffer);
		}
		text = Buffer.concat(chunks).toString('utf8');
	} catch (error) {
		// n8n's own refusals (a symbolic link on the way, the file changed while opened) say so in their message.
		throw new NodeOperationError(ctx.getNode(), dataFileUnreadable(path, error));
	}
	if (size > MAX_DATA_FILE_BYTES) throw new NodeOperationError(ctx.getNode(), dataFileTooLarge(path));
	return tableFromText(path, text);
}

const withData = { show: { operation: ['train', 'evaluate', 'trainUplift'] } };
const fromFile = { show: { operation: ['train', 'evaluate', 'trainUplift'], dataSource: ['file'] } };
const trainOnly = { show: { operation: ['train', 'trainUplift'] } };
const fromRows = { show: { operation: ['train', 'trainUplift'], dataSource: ['items', 'file'] } };

// Training, activating and rolling back the scoring model are an operator's decisions, never an AI-agent tool
// (DESIGN §12: admin operations are never tools).
// eslint-disable-next-line @n8n/community-nodes/node-usable-as-tool
export class NudgeModel implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Nudge Model',
		name: 'nudgeModel',
		icon: { light: 'file:nudgeModel.svg', dark: 'file:nudgeModel.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["operation"] + " " + $parameter["modelName"]}}',
		description: 'Trains, evaluates, activates or rolls back the predictive scoring model Nudge Score uses, or an uplift model for a journey’s uplift gate',
		defaults: { name: 'Nudge Model' },
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
					{ name: 'Activate', value: 'activate', action: 'Activate a model version', description: 'Make a version the one that scores' },
					{ name: 'Evaluate', value: 'evaluate', action: 'Evaluate a model version', description: 'Measure a stored version on labelled rows' },
					{ name: 'List Versions', value: 'list', action: 'List model versions' },
					{ name: 'Roll Back', value: 'rollback', action: 'Roll back to the previous version', description: 'Re-activate the version active before' },
					{ name: 'Train', value: 'train', action: 'Train a new model version', description: 'Learn from past contacts whose outcome is known' },
					{
						name: 'Train Uplift',
						value: 'trainUplift',
						action: 'Train a new uplift model version',
						description: 'Learn who a message changes, from messaged and held-out contacts (docs/uplift.md)',
					},
				],
				default: 'train',
			},
			{
				displayName: 'Model Name',
				name: 'modelName',
				type: 'string',
				default: 'lead',
				required: true,
				description: 'The name the policy’s scoring.model refers to',
			},
			{
				displayName: 'Data',
				name: 'dataSource',
				type: 'options',
				options: [
					{ name: 'Input Items (One per Contact)', value: 'items' },
					{ name: 'CSV / JSON File', value: 'file' },
					{ name: 'Recorded Outcomes (Learn From Nudge Decisions)', value: 'outcomes' },
				],
				default: 'items',
				displayOptions: withData,
			},
			{
				displayName: 'File Path',
				name: 'filePath',
				type: 'string',
				default: '',
				placeholder: '/home/node/.n8n-files/crm-export.csv',
				description: "CSV (comma, semicolon or tab), JSON or JSONL export on the n8n server, in a folder n8n lets nodes read (N8N_RESTRICT_FILE_ACCESS_TO; n8n 2's default is ~/.n8n-files)",
				displayOptions: fromFile,
			},
			{
				displayName: 'Journey',
				name: 'journey',
				type: 'string',
				default: '',
				required: true,
				placeholder: 'cart',
				description: 'The journey whose decisions and outcomes to learn from; its holdout is the control group',
				displayOptions: { show: { operation: ['trainUplift'], dataSource: ['outcomes'] } },
			},
			{
				displayName: 'Treatment Column',
				name: 'treatment',
				type: 'string',
				default: 'treatment',
				required: true,
				description: 'The column saying whether the contact was messaged (1/0, true/false, yes/no, treated/control), assigned at random',
				displayOptions: { show: { operation: ['trainUplift'], dataSource: ['items', 'file'] } },
			},
			{
				displayName: 'Outcome Column',
				name: 'target',
				type: 'string',
				default: 'Converted',
				required: true,
				description: 'The column saying whether the contact converted (the model learns to predict it)',
				displayOptions: fromRows,
			},
			{
				displayName: 'Success Value',
				name: 'positive',
				type: 'string',
				default: '',
				description: 'The value of the outcome column that means success; leave empty for 1, true or yes',
				displayOptions: fromRows,
			},
			{
				displayName: 'Leave Out Columns',
				name: 'exclude',
				type: 'string',
				default: '',
				description: 'Comma-separated: IDs, and fields filled in after the outcome (they would make the model look better than it is)',
				displayOptions: trainOnly,
			},
			{
				displayName: 'Values Meaning Blank',
				name: 'placeholders',
				type: 'string',
				default: '',
				placeholder: 'Select',
				description: 'Comma-separated values your form uses for "not chosen"',
				displayOptions: trainOnly,
			},
			{
				displayName: 'Activate',
				name: 'activate',
				type: 'boolean',
				default: false,
				description: 'Whether the new version starts scoring at once',
				displayOptions: trainOnly,
			},
			{
				displayName: 'Only If Better',
				name: 'requireBetter',
				type: 'boolean',
				default: true,
				description: 'Whether to activate only if the new version beats the active one on the same held-out rows',
				displayOptions: { show: { operation: ['train'], activate: [true] } },
			},
			{
				displayName: 'Trees',
				name: 'trees',
				type: 'number',
				default: 100,
				typeOptions: { minValue: 1, maxValue: 1000 },
				description: 'Trees per forest (an uplift model fits two learners of this many trees each; 30 is plenty there)',
				displayOptions: trainOnly,
			},
			{
				displayName: 'Version',
				name: 'version',
				type: 'number',
				default: 0,
				typeOptions: { minValue: 0 },
				description: 'Version to use; 0 means the active one (Evaluate)',
				displayOptions: { show: { operation: ['activate', 'evaluate'] } },
			},
			{
				displayName: 'Note',
				name: 'note',
				type: 'string',
				default: '',
				description: 'Why, for the activation log',
				displayOptions: { show: { operation: ['activate', 'rollback', 'train', 'trainUplift'] } },
			},
		],
	};

	methods = { credentialTest: { nudgeEngineConnectionTest } };

	/** One run for all input items: they are the training (or evaluation) rows, not separate requests. */
	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		try {
			const { engine } = await loadEngine(this);
			const p = <T>(name: string, fallback: T) => this.getNodeParameter(name, 0, fallback) as T;
			const operation = p<ModelRequest['operation']>('operation', 'train');
			const name = p('modelName', 'lead').trim();
			const data = async () => (p<string>('dataSource', 'items') === 'file' ? readDataFile(this, p('filePath', '')) : dataTable(items.map((i) => i.json)));
			const note = p('note', '') || undefined;
			const version = p('version', 0);
			let request: ModelRequest;
			const common = { exclude: list(p('exclude', '')), placeholders: list(p('placeholders', '')), trees: p('trees', 100) };
			const activation = { activate: p('activate', false), requireBetter: p('requireBetter', true), note };
			if (operation === 'trainUplift') {
				const fromJourney = p<string>('dataSource', 'items') === 'outcomes';
				const options = { treatment: p('treatment', '').trim(), outcome: p('target', '').trim(), positive: p('positive', '').trim() || undefined, exclude: common.exclude, placeholders: common.placeholders, trees: common.trees };
				request = { operation, name, ...(fromJourney ? { journey: p('journey', '').trim() } : { data: await data() }), options, activate: activation.activate, note };
			} else if (operation === 'train' && p<string>('dataSource', 'items') === 'outcomes') {
				request = { operation: 'retrain', name, options: common, ...activation };
			} else if (operation === 'train') {
				request = {
					operation,
					name,
					data: await data(),
					...activation,
					options: { target: p('target', '').trim(), positive: p('positive', '').trim() || undefined, ...common },
				};
			} else if (operation === 'evaluate') request = { operation, name, data: await data(), version: version || undefined };
			else if (operation === 'activate') {
				if (!version) throw new NodeOperationError(this.getNode(), 'Set the Version to activate (List Versions shows them)');
				request = { operation, name, version, note };
			} else request = operation === 'rollback' ? { operation, name, note } : { operation: 'list', name };
			const result = await modelOperation(engine.store, request, engine.policy);
			return [[{ json: result as unknown as IDataObject, pairedItem: items.map((_, item) => ({ item })) }]];
		} catch (error) {
			const nodeError = toNodeError(this.getNode(), error);
			if (!this.continueOnFail()) throw nodeError;
			return [[{ json: { error: nodeError.message }, pairedItem: { item: 0 } }]];
		}
	}
}
