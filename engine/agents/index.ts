export * from './approvals';
export * from './blastRadius';
export * from './gate';
export * from './idempotency';
export * from './request';
export * from './verdict';
