export * from './types';
export * from './memory';
export * from './sqlite';
export * from './redis';
export * from './postgres';
export * from './split';
export * from './open';
export * from './models';
