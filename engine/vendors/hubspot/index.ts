/** HubSpot, in one place: its auth (private app or OAuth2), webhook signature, webhook events, polling and sender. */
export * from './auth';
export * from './signature';
export * from './normalise';
export * from './poll';
export * from './send';
