/**
 * How a node's item meets the engine, one way for both platforms: which decision an item is about (or the
 * event it opens, and for which journey), the step rules nodes share, and which output the item leaves by.
 */
export * from './decisionRef';
export * from './open';
export * from './outputs';
export * from './settings';
export * from './steps';
