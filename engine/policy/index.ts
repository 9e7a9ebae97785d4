export * from './schema';
export * from './defaultPolicy';
export * from './load';
