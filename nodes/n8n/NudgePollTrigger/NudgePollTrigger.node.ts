import { randomUUID } from 'node:crypto';
import type { IDataObject, INodeExecutionData, INodeType, INodeTypeDescription, IPollFunctions } from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';
import {
	applyInactivityRules,
	createPollSource,
	type Decision,
	DEFAULT_JOURNEY,
	type Engine,
	fireDueTimers,
	type FiredTimers,
	type HandoutMark,
	TIMER_LEASE_MS,
	type IngestResult,
	journeyOf,
	lostHandout,
	pollOnce,
	previewDueTimers,
	previewPoll,
	type PollSourceSpec,
	recordHandout,
	timerFailureText,
} from '../../../engine';
import {
	hubspotAuth,
	hubspotAuthenticationProperty,
	INACTIVITY_TIMERS_PROPERTY,
	inactivityRules,
	loadEngine,
	nudgeEngineConnectionTest,
	nudgeSalesforceConnectionTest,
	salesforceSettings,
	timerNodeOf,
	toNodeError,
} from '../shared/engine';
import { engineCredentials, hubspotCredentials, journeyParameter, salesforceCredential } from '../shared/description';

const recordSources = { show: { source: ['hubspot', 'salesforce'] } };
/** Due timers one take fires, and the most takes one check makes (1,000 timers a minute per journey at most). */
const TIMER_BATCH = 100;
const TIMER_TAKES = 10;

export class NudgePollTrigger implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Nudge Poll Trigger',
		name: 'nudgePollTrigger',
		icon: { light: 'file:nudgePollTrigger.svg', dark: 'file:nudgePollTrigger.dark.svg' },
		group: ['trigger'],
		version: 1,
		polling: true,
		subtitle: '={{$parameter["source"] === "timers" ? "Inactivity timers" : $parameter["source"] + " " + ($parameter["source"] === "hubspot" ? $parameter["hubspotObject"] : $parameter["salesforceObject"])}}',
		description:
			'Starts a journey for each HubSpot or Salesforce record that changed since the last check: no developer app needed, nothing missed or repeated',
		defaults: { name: 'Nudge Poll Trigger' },
		inputs: [],
		outputs: [NodeConnectionTypes.Main],
		credentials: engineCredentials(
			...hubspotCredentials({ source: ['hubspot'] }),
			salesforceCredential({ source: ['salesforce'] }),
		),
		properties: [
			{
				displayName: 'Source',
				name: 'source',
				type: 'options',
				noDataExpression: true,
				options: [
					{ name: 'HubSpot', value: 'hubspot', description: 'Checks HubSpot’s CRM search for records changed since the last check (private app token or OAuth2 app)' },
					{ name: 'Salesforce', value: 'salesforce', description: 'Checks Salesforce for records changed since the last check (SystemModstamp)' },
					{ name: 'Inactivity Timers', value: 'timers', description: 'Fires the events of inactivity timers that ran out (set up on a Nudge Trigger or Poll Trigger)' },
				],
				default: 'hubspot',
			},
			hubspotAuthenticationProperty({ source: ['hubspot'] }),
			{
				displayName: 'Records',
				name: 'hubspotObject',
				type: 'options',
				noDataExpression: true,
				displayOptions: { show: { source: ['hubspot'] } },
				options: [
					{ name: 'Contacts', value: 'contacts' },
					{ name: 'Deals', value: 'deals' },
				],
				default: 'contacts',
			},
			{
				displayName: 'Records',
				name: 'salesforceObject',
				type: 'options',
				noDataExpression: true,
				displayOptions: { show: { source: ['salesforce'] } },
				options: [
					{ name: 'Leads', value: 'Lead' },
					{ name: 'Contacts', value: 'Contact' },
				],
				default: 'Lead',
			},
			journeyParameter('Journey these changes start. Your policy can give each journey its own channels.', recordSources),
			{
				displayName: 'Journey',
				name: 'timerJourney',
				type: 'string',
				default: '',
				placeholder: 'e.g. cart-abandonment',
				description:
					'Fire only this journey’s timers, so each journey’s timers start its own workflow. Empty: every journey’s (one workflow takes them all).',
				displayOptions: { show: { source: ['timers'] } },
			},
			{
				displayName: 'Settle Time (Seconds)',
				name: 'settleSeconds',
				type: 'number',
				typeOptions: { minValue: 0 },
				default: 60,
				description:
					'How far behind now each check reads. A record saved in a slow transaction (or indexed late by HubSpot) can carry an earlier time than records already seen; reading a little behind means it is never skipped.',
				displayOptions: recordSources,
			},
			{ ...INACTIVITY_TIMERS_PROPERTY, displayOptions: recordSources },
		],
	};

	methods = { credentialTest: { nudgeEngineConnectionTest, nudgeSalesforceConnectionTest } };

	async poll(this: IPollFunctions): Promise<INodeExecutionData[][] | null> {
		const source = this.getNodeParameter('source', 'hubspot') as 'hubspot' | 'salesforce' | 'timers';
		try {
			const { engine } = await loadEngine(this);
			// The store's retention job, when due: in the background, never in this poll's way.
			engine.startRetentionIfDue((line, failed) => this.logger[failed ? 'warn' : 'info'](line));
			if (source === 'timers') {
				const timerJourney = String(this.getNodeParameter('timerJourney', '') ?? '').trim();
				const node = { journey: timerJourney ? journeyOf(timerJourney) : undefined, node: timerNodeOf(this) };
				// "Fetch Test Event": the timers due, shown without firing them (the active workflow's next check fires them).
				if (this.getMode() === 'manual') return previewOf((await previewDueTimers(engine, Date.now(), 100, node)).map((timer) => ({ timer })), false, "timer(s) due, which the active workflow's next check fires");
				// A check that finds a dropped one hands out only its decisions; the timers due wait a minute for the next.
				const lost = await lostHandOut(this, engine);
				if (lost.length) return await handOut(this, engine, lost.map(resumedItem));
				// n8n polls at most once a minute: a check takes batches until the due timers run out (up to TIMER_TAKES
				// of them), or 150 carts due at once would wait a minute for each 100.
				// A later take that fails ends the check with what the earlier ones fired: they are handed to n8n (a throw
				// would lose them, fired already); its own timers were not acknowledged and fire again after their lease.
				const batches: FiredTimers[] = [];
				for (let take = 0; take < TIMER_TAKES; take++) {
					let batch: FiredTimers;
					try {
						batch = await fireDueTimers(engine, Date.now(), TIMER_BATCH, [], TIMER_LEASE_MS, node);
					} catch (error) {
						if (!batches.length) throw toNodeError(this.getNode(), error);
						this.logger.warn(`Nudge Poll Trigger "${this.getNode().name}": ${(error as Error).message}; the timers not taken fire at the next check`);
						break;
					}
					for (const failure of batch.timerFailures) this.logger.error(`Nudge Poll Trigger "${this.getNode().name}": ${timerFailureText(failure)}`);
					// Unacknowledged timers fire again after their lease, on this or another process.
					if (batch.failed.length && !batch.fired.length && !batches.length) throw batch.failed[0].error;
					batches.push(batch);
					if (batch.taken < TIMER_BATCH || batch.failed.length) break;
				}
				// n8n starts the execution with what poll() returns. An acknowledgement that fails leaves its timer to fire
				// again after the lease, as a repeat (its decision handed out again only if no step has touched it).
				const items = await handOut(this, engine, batches.flatMap((batch) => batch.fired).map(newItem));
				for (const batch of batches) await batch.acknowledge().catch((error: Error) => this.logger.warn(`Nudge Poll Trigger "${this.getNode().name}": could not acknowledge fired timers (they may fire again as duplicates): ${error.message}`));
				return items;
			}
			const journey = journeyOf(this.getNodeParameter('journey', DEFAULT_JOURNEY));
			const settleSeconds = this.getNodeParameter('settleSeconds', 60) as number;
			const rules = inactivityRules(this);
			const spec: PollSourceSpec =
				source === 'salesforce'
					? { source, settings: await salesforceSettings(this), object: this.getNodeParameter('salesforceObject', 'Lead') as 'Lead' | 'Contact' }
					: { source, auth: await hubspotAuth(this, this.getNodeParameter('authentication', 'privateApp')), object: this.getNodeParameter('hubspotObject', 'contacts') as 'contacts' | 'deals' };
			const options = { journey, settleMs: Math.max(0, settleSeconds) * 1000 };
			// "Fetch Test Event" in the editor: the changes the next check will take in, shown without taking them in (the
			// cursor is shared with the active workflow, whose next check would otherwise find nothing).
			if (this.getMode() === 'manual') {
				const { events, more } = await previewPoll(engine, createPollSource(spec), options);
				return previewOf(events.map((event) => ({ event })), more, "change(s), which the active workflow's next check takes in");
			}
			const lost = await lostHandOut(this, engine);
			if (lost.length) return await handOut(this, engine, lost.map(resumedItem));
			// The cursor lives in the Nudge store (not n8n static data), so it is shared and survives restarts.
			const result = await pollOnce(engine, createPollSource(spec), options);
			// The cursor moved past a record Nudge could not take in: said in n8n's log (as Node-RED warns), with the fix.
			for (const bad of result.invalid) this.logger.warn(`Nudge Poll Trigger "${this.getNode().name}": skipped ${spec.source} record ${bad.id}, which Nudge cannot take in: ${bad.error}`);
			for (const failure of await applyInactivityRules(engine, result.accepted, rules, timerNodeOf(this))) this.logger.error(`Nudge Poll Trigger "${this.getNode().name}": ${timerFailureText(failure)}`);
			return await handOut(this, engine, result.accepted.map(newItem));
		} catch (error) {
			throw toNodeError(this.getNode(), error);
		}
	}
}

/** A test fetch's items (events or timers), marked as a preview, with what the nodes after it can and cannot do with them. */
function previewOf(shown: IDataObject[], more: boolean, what: string): INodeExecutionData[][] | null {
	if (!shown.length) return null;
	const note = `A test fetch: ${shown.length}${more ? ' (and more)' : ''} ${what}. Not taken in here, so they carry no Nudge decision for the nodes after this one.`;
	return [shown.map((json) => ({ json: { preview: true, note, ...json } }))];
}

/**
 * Each Poll Trigger's mark of the last hand-out n8n took (engine/events/unfinished.ts lostHandout), by node id in the
 * workflow's static data: n8n keys a node's own static data by the node's name, which a rename changes (the mark, and
 * with it a dropped check's decisions, would be lost).
 */
type HandoutState = { nudgeHandouts?: Record<string, HandoutMark> };
const handoutState = (context: IPollFunctions) => context.getWorkflowStaticData('global') as HandoutState;

/** The decisions of the last check that n8n dropped (deactivated or replaced mid-check), to hand out again alone. */
async function lostHandOut(context: IPollFunctions, engine: Engine): Promise<Decision[]> {
	const kept = handoutState(context).nudgeHandouts?.[context.getNode().id];
	if (!kept) return [];
	const lost = await lostHandout(engine, timerNodeOf(context), kept);
	if (lost.length) context.logger.warn(`Nudge Poll Trigger "${context.getNode().name}": handing ${lost.length} decision(s) out again, which n8n dropped at an earlier check (the workflow was deactivated or replaced while it checked)`);
	return lost;
}

/**
 * This check's items: the decisions n8n dropped before, or the new ones. Recorded in the store under a fresh token, which
 * goes into the workflow's static data: n8n keeps that only with the execution it starts, so the next check can tell
 * whether it dropped these.
 */
async function handOut(context: IPollFunctions, engine: Engine, items: INodeExecutionData[]): Promise<INodeExecutionData[][] | null> {
	if (!items.length) return null;
	const state = handoutState(context);
	const node = context.getNode().id;
	const mark = { instance: state.nudgeHandouts?.[node]?.instance ?? randomUUID(), token: randomUUID() };
	try {
		await recordHandout(engine, timerNodeOf(context), mark, items.map((item) => item.json.decisionId as string));
		state.nudgeHandouts = { ...state.nudgeHandouts, [node]: mark };
	} catch (error) {
		// The items go out all the same (their events are taken in): only a drop of this check by n8n would go unseen.
		context.logger.warn(`Nudge Poll Trigger "${context.getNode().name}": could not record this check's decisions (if n8n drops them, they stay pending): ${(error as Error).message}`);
	}
	return [items];
}

const itemOf = (decision: Decision, event: unknown, more: IDataObject = {}): INodeExecutionData => ({
	json: { decisionId: decision.decisionId, contactId: decision.contactId, decision: decision as unknown as IDataObject, event: event as IDataObject, ...more },
});
const newItem = ({ decision, event }: IngestResult) => itemOf(decision, event);
/** A decision a dropped check handed out, again: its event as the decision log keeps it. */
const resumedItem = (decision: Decision) => itemOf(decision, decision.event, { resumed: true });
