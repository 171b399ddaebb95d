#!/usr/bin/env node
// scripts/price-feed.mjs — a fake FX price feed for the live-prices demo (web/prices.html): publishes
// random-walk quotes to a STOMP broker, one destination per symbol, as JMS TextMessages.
//
//   node scripts/price-feed.mjs                          # ActiveMQ on 127.0.0.1:61613, 20 msg/s
//   node scripts/price-feed.mjs --rate 200 --symbols EURUSD,USDJPY --count 1000
//   node scripts/price-feed.mjs --port 61633 --vhost /   # RabbitMQ's STOMP (scripts/brokers.sh)
//
// Each message goes to <prefix><SYMBOL> (default /topic/prices.EURUSD) with the body
//   {"symbol":"EURUSD","bid":1.08431,"ask":1.08445,"ts":1732190000000}
// and no content-length header: ActiveMQ then makes a JMS TextMessage (with content-length it would
// be a BytesMessage). One status line per second on stdout. Ctrl-C (or --count) ends it after a
// DISCONNECT with receipt, so everything sent has reached the broker. If the broker goes away the
// feed reconnects (every 1–5 s) and carries on.
//
// No npm dependencies: the STOMP client is scripts/lib/stomp.mjs.

import { parseArgs } from 'node:util';
import { connect } from './lib/stomp.mjs';

const HELP = `usage: node scripts/price-feed.mjs [options]
  --host HOST                 broker host (127.0.0.1)
  --port PORT                 broker STOMP port (61613, ActiveMQ; RabbitMQ from brokers.sh: 61633)
  --vhost VHOST               STOMP host header (localhost; RabbitMQ needs /)
  --login USER --passcode PW  credentials, if the broker wants them
  --rate N                    messages per second, all symbols together (20)
  --symbols A,B,...           symbols (EURUSD,GBPUSD,USDJPY,USDCHF,AUDUSD,USDCAD,NZDUSD,EURGBP)
  --destination-prefix P      destination = P + SYMBOL (/topic/prices.)
  --count N                   stop after N messages (default: run until Ctrl-C)
  --quiet                     no per-second status lines
`;

// Start mids and typical spreads; a symbol not listed starts at 1.0 with a 2-pip spread.
const MARKET = {
  EURUSD: [1.0843, 0.00012], GBPUSD: [1.2651, 0.00018], USDJPY: [151.32, 0.012], USDCHF: [0.8834, 0.00016],
  AUDUSD: [0.6578, 0.00014], USDCAD: [1.3612, 0.00018], NZDUSD: [0.6012, 0.0002], EURGBP: [0.8571, 0.00015],
  EURJPY: [164.08, 0.018], XAUUSD: [2391.5, 0.35],
};
const DEFAULT_SYMBOLS = 'EURUSD,GBPUSD,USDJPY,USDCHF,AUDUSD,USDCAD,NZDUSD,EURGBP';

function fail(msg) {
  process.stderr.write(`price-feed: ${msg}\n`);
  process.exit(2);
}

function parse() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '61613' },
        vhost: { type: 'string', default: 'localhost' },
        login: { type: 'string' },
        passcode: { type: 'string' },
        rate: { type: 'string', default: '20' },
        symbols: { type: 'string', default: DEFAULT_SYMBOLS },
        'destination-prefix': { type: 'string', default: '/topic/prices.' },
        count: { type: 'string' },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    fail(`${e.message}\n${HELP}`);
  }
  if (values.help) { process.stdout.write(HELP); process.exit(0); }
  const port = Number(values.port);
  const rate = Number(String(values.rate).replace(/\/s$/, ''));     // "--rate 50/s" reads well too
  const count = values.count === undefined ? Infinity : Number(values.count);
  const symbols = values.symbols.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`bad --port ${values.port}`);
  if (!(rate > 0) || rate > 1e6) fail(`bad --rate ${values.rate} (messages per second, > 0)`);
  if (count !== Infinity && !(Number.isInteger(count) && count > 0)) fail(`bad --count ${values.count}`);
  if (!symbols.length || symbols.some((s) => !/^[A-Z0-9_-]+$/.test(s))) {
    fail(`bad --symbols ${values.symbols} (letters, digits, - and _, comma-separated)`);
  }
  return { ...values, port, rate, count, symbols, prefix: values['destination-prefix'] };
}

// ---------------------------------------------------------------- prices

function gaussian() {
  // Box–Muller; 1 - random() keeps log() away from 0.
  return Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
}

class Quote {
  constructor(symbol) {
    const [mid, spread] = MARKET[symbol] ?? [1.0, 0.0002];
    this.symbol = symbol;
    this.mid = mid * (1 + 0.002 * gaussian());
    this.spread = spread;
    // Decimals: 3 for yen crosses, 2 for gold, 5 otherwise (what FX screens show).
    this.decimals = spread >= 0.1 ? 2 : spread >= 0.005 ? 3 : 5;
  }

  /** One random-walk step (≈2 bp standard deviation), then bid/ask around the new mid. */
  step() {
    this.mid *= Math.exp(0.0002 * gaussian());
    const half = (this.spread * (0.8 + 0.4 * Math.random())) / 2;
    const round = (x) => Number(x.toFixed(this.decimals));
    return { symbol: this.symbol, bid: round(this.mid - half), ask: round(this.mid + half), ts: Date.now() };
  }
}

// ---------------------------------------------------------------- main

const opts = parse();
const quotes = opts.symbols.map((s) => new Quote(s));
let sent = 0;
let sentAtLastReport = 0;
let client = null;
let stopping = false;

const log = (msg) => process.stdout.write(`price-feed: ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function connectWithRetry() {
  let delay = 1000;
  for (;;) {
    try {
      const c = await connect({
        host: opts.host, port: opts.port, vhost: opts.vhost, login: opts.login, passcode: opts.passcode,
      });
      log(`connected to ${opts.host}:${opts.port} (${c.server?.server ?? 'STOMP ' + c.server?.version}), ` +
          `${opts.rate} msg/s to ${opts.prefix}{${opts.symbols.join(',')}}`);
      return c;
    } catch (e) {
      if (stopping) return null;
      log(`cannot connect to ${opts.host}:${opts.port}: ${e.message}; retrying in ${delay / 1000} s`);
      await sleep(delay);
      delay = Math.min(5000, delay * 2);
    }
  }
}

async function shutdown(code) {
  stopping = true;
  clearInterval(reporter);
  if (client) await client.disconnect({ timeoutMs: 3000 });
  log(`stopped after ${sent} message(s)`);
  process.exit(code);
}

process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

const reporter = setInterval(() => {
  if (!opts.quiet) log(`${sent - sentAtLastReport} msg/s, ${sent} sent`);
  sentAtLastReport = sent;
}, 1000);

// Pacing: the number due is elapsed time × rate, so the average rate holds even though timers
// fire late; after a reconnect the clock restarts instead of bursting to catch up.
let i = 0;
while (!stopping && sent < opts.count) {
  client = await connectWithRetry();
  if (!client) break;
  const t0 = performance.now();
  let sentHere = 0;
  try {
    while (!stopping && sent < opts.count) {
      const due = Math.min(Math.floor(((performance.now() - t0) / 1000) * opts.rate) + 1, opts.count - sent + sentHere);
      while (sentHere < due && !stopping) {
        const q = quotes[i++ % quotes.length].step();
        // send() resolves when the socket takes the frame (waits for 'drain' if it is full).
        await client.send(`${opts.prefix}${q.symbol}`, JSON.stringify(q), { headers: { 'content-type': 'application/json' } });
        sentHere++;
        sent++;
      }
      if (sent < opts.count) await sleep(Math.max(1, Math.min(50, 1000 / opts.rate)));
    }
  } catch (e) {
    if (stopping) break;
    log(`connection lost after ${sent} message(s): ${e.message}`);
    client = null;
    await sleep(1000);
  }
}
if (!stopping) await shutdown(0);
