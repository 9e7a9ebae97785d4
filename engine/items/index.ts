/**
 * How a node's item meets the engine, one way for both platforms: which decision an item is about (or the
 * event it opens, and for which journey), the step rules nodes share, and which output the item leaves by.
 */
export * from './decisionRef';
export * from './open';
export * from './outputs';
export * from './settings';
export * from './steps';

// What a node handling an item needs besides, without loading the engine: the error it throws, the channels
// and agent verdicts it routes by, and the outcome an item reports.
export { NudgeError, redactUrl, type FieldIssue, type NudgeErrorCode } from '../errors';
export { CHANNELS, type Channel } from '../channels';
export { VERDICTS, verdictOf, type ActionVerdict } from '../agents/verdict';
export { OutcomeSchema, type Outcome } from '../audit/schema';
export { isRecord } from '../util/isRecord';
