// Interop: the unmodified npm `faye@1.4.3` client over long-polling against encke.
import { defineSuite } from './lib/scenarios.mjs';

defineSuite({ kind: 'faye', transport: 'long-polling', threads: 2 });
