#!/usr/bin/env node
/** The `nudge` command: checks the Node.js version first, then loads the commands (they need node:sqlite). */
import { exitUnlessSupportedNode } from './nodeVersion';

exitUnlessSupportedNode('nudge');
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('./main');
