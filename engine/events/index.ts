export * from './schema';
export * from './normalize';
export * from './signature';
export * from './receive';
