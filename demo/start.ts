/**
 * `npm start` (node dist/demo/start.js): the demo of demo/run.ts. Checks the Node.js version before
 * loading it, since the engine needs node:sqlite.
 */
import { exitUnlessSupportedNode } from '../cli/nodeVersion';

exitUnlessSupportedNode('The Nudge demo');
// eslint-disable-next-line @typescript-eslint/no-require-imports
(require('./run') as typeof import('./run')).main();
