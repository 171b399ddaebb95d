// Interop: the unmodified npm `cometd@9.0.0 (via cometd-nodejs-client@2.0.0)` client over websocket against encke.
import { defineSuite } from './lib/scenarios.mjs';

defineSuite({ kind: 'cometd', transport: 'websocket', threads: 2 });
