// Interop: the unmodified npm `cometd@9.0.0 (via cometd-nodejs-client@2.0.0)` client over long-polling against encke.
import { defineSuite } from './lib/scenarios.mjs';

defineSuite({ kind: 'cometd', transport: 'long-polling', threads: 2 });
