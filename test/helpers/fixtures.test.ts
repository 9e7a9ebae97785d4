import { DateTime } from 'luxon';
import { zoneAtLocalHour } from './fixtures';

describe('zoneAtLocalHour (the day- and night-time contacts of the flow tests)', () => {
	test('puts the local hour at exactly the hour asked, whatever the hour in UTC', () => {
		for (let utc = 0; utc < 24; utc++) {
			const now = new Date(Date.UTC(2026, 11, 4, utc, 59));
			for (const hour of [2, 11, 14]) expect([utc, hour, DateTime.fromJSDate(now).setZone(zoneAtLocalHour(hour, now)).hour]).toEqual([utc, hour, hour]);
		}
	});
});
