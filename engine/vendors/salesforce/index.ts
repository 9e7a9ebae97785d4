/** Salesforce, in one place: its connection (refresh token or JWT bearer) and API budget, polling and sender. */
export * from './auth';
export * from './poll';
export * from './send';
