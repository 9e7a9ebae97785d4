/**
 * The text of a CRM follow-up (a HubSpot task or note, a Salesforce Task), as plain lines. The trigger
 * event's name comes from outside (a form, a tracking call), so it is put on one line: a line break in
 * it cannot add a line that looks like the engine's own ("Nudge decision: …"). HTML fields escape the
 * lines themselves (`escapeHtml`).
 */
import type { OutboundMessage } from './provider';

const DEFAULT_SUBJECT = 'Nudge: follow up ({{name}})';

const oneLine = (text: string) => text.replace(/[\r\n\u2028\u2029]+/g, ' ');
const eventName = (message: OutboundMessage) => oneLine(message.event.name ?? message.event.type);

/** The configured subject (default "Nudge: follow up ({{name}})"), `{{name}}` being the trigger event's name. */
export function followUpSubject(template: string | undefined, message: OutboundMessage): string {
	return (template || DEFAULT_SUBJECT).replace(/\{\{\s*name\s*\}\}/g, () => eventName(message));
}

export function followUpLines(message: OutboundMessage): string[] {
	const score = (message.score as { value?: number; tier?: string } | undefined) ?? {};
	return [
		`Trigger: ${eventName(message)} at ${message.event.occurredAt}`,
		...(score.value !== undefined ? [`Score: ${score.value} (${score.tier ?? ''})`] : []),
		`Journey: ${message.journey}`,
		`Nudge decision: ${message.decisionId}`,
	];
}

const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for an HTML field (HubSpot note and task bodies): shown as written, never read as markup. */
export function escapeHtml(text: string): string {
	return text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]);
}
