/** What every backend shares when it erases a contact (Store.eraseContact). */

/** Is this timer (its JSON body) for the contact? Timers name their contact in the body's `contactId`. */
export function timerIsFor(body: string, contactId: string): boolean {
	try {
		return (JSON.parse(body) as { contactId?: unknown }).contactId === contactId;
	} catch {
		return false;
	}
}
