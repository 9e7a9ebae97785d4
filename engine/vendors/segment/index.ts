/** Segment, in one place: its webhook signature and sender (its spec format is the events' own: events/normalize.ts). */
export * from './signature';
export * from './send';
