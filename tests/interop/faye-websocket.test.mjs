// Interop: the unmodified npm `faye@1.4.3` client over websocket against encke.
import { defineSuite } from './lib/scenarios.mjs';

defineSuite({ kind: 'faye', transport: 'websocket', threads: 2 });
