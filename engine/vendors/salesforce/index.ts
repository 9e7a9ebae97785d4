/**
 * What the adapters need of Salesforce: its connection settings and the Send node's actions. Loading this loads
 * neither its sender nor its poller: those are built by vendors/senders.ts and vendors/pollSources.ts.
 */
export * from './auth';
export type { SalesforceAction } from './send';
