export * from './types';
export * from './memory';
export * from './sqlite';
export * from './open';
export * from './models';
