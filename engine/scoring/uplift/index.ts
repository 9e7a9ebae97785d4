export * from './simulate';
export * from './metrics';
export * from './learners';
export * from './model';
export * from './registry';
