export * from './erase';
export * from './record';
export * from './pseudonymise';
export * from './retention';
