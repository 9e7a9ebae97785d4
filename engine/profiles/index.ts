export * from './schema';
export * from './profiles';
export * from './eligibility';
