export * from './schema';
export * from './profiles';
