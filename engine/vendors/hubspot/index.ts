/**
 * What the adapters need of HubSpot: its auth settings and the Send node's actions. Loading this loads neither its
 * sender nor its poller (n8n loads every node at start-up): those are built by vendors/senders.ts and
 * vendors/pollSources.ts from the files of this folder.
 */
export * from './auth';
export type { HubSpotAction } from './send';
