export * from './rulesModel';
export * from './table';
export * from './features';
export * from './forest';
export * from './evaluate';
export * from './model';
export * from './registry';
export * from './outcomes';
