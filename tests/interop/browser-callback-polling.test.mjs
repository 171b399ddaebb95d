// Interop over callback-polling (JSONP) with real browser clients: Debian chromium driven by
// playwright-core loads a page served by encke (--web-root, a temporary folder) that runs the
// unmodified Faye browser client (faye-browser-min.js) and the CometD browser client (npm
// `cometd` ES modules), each restricted to callback-polling. Browsers run serially.
import assert from 'node:assert/strict';
import { describe, test, before, after } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  startServer,
  stopServer,
  assertCleanExit,
  writeConfig,
  waitFor,
  within,
  sleep,
  uniq,
  packageDir,
  tempDir,
  requireFromRepo,
  UNICODE_SAMPLE,
  WAIT_MS,
} from './lib/harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const SETTLE_MS = 300;

function makeWebRoot() {
  const root = tempDir('encke-interop-web-');
  fs.copyFileSync(path.join(packageDir('faye'), 'client', 'faye-browser-min.js'), path.join(root, 'faye-browser-min.js'));
  const cometdDir = packageDir('cometd');
  fs.mkdirSync(path.join(root, 'cometd-js')); // not under /cometd: that whole prefix is the Bayeux endpoint
  for (const f of fs.readdirSync(cometdDir)) if (f.endsWith('.js')) fs.copyFileSync(path.join(cometdDir, f), path.join(root, 'cometd-js', f));
  fs.copyFileSync(path.join(HERE, 'lib', 'page', 'interop-page.mjs'), path.join(root, 'interop-page.js'));
  fs.writeFileSync(
    path.join(root, 'index.html'),
    `<!doctype html>
<html><head><meta charset="utf-8"><title>encke interop</title>
<script src="/faye-browser-min.js"></script>
<script type="module" src="/interop-page.js"></script>
</head><body>encke interop page</body></html>
`,
  );
  return root;
}

const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s) => Buffer.from(s, 'base64').toString('utf8');

describe('browser clients over callback-polling (chromium + playwright-core)', { timeout: 170000 }, () => {
  let srv;
  let ctx;
  let webRoot;
  let profile;

  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `chromium not found at ${CHROMIUM}`);
    webRoot = makeWebRoot();
    const cfg = writeConfig();
    srv = await startServer({ config: cfg.file, threads: 1, webRoot });
    const { chromium } = requireFromRepo('playwright-core');
    profile = tempDir('encke-interop-chromium-');
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  after(async () => {
    if (ctx) await within(ctx.close(), 'closing chromium', 15000).catch(() => {});
    assertCleanExit(await stopServer(srv), srv);
    for (const d of [profile, webRoot]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  for (const kind of (process.env.INTEROP_BROWSER_KINDS || 'faye,cometd').split(',')) {
    // One client per page (window): two CometD instances in one window would share the global
    // JSONP callback names (_cometd_jsonp_<n>, counted per instance). Both pages share the
    // browser profile (cookies), as two tabs would.
    describe(`${kind} browser client`, () => {
      const pages = {}; // 'sub' | 'pub' -> page
      const pageErrors = [];
      const requests = []; // Bayeux requests seen by the browser
      const sockets = [];

      async function openPage(name) {
        const page = await ctx.newPage();
        page.on('pageerror', (e) => pageErrors.push(`${name}: ${e}`));
        page.on('console', (m) => {
          if (m.type() === 'error') pageErrors.push(`${name} console: ${m.text()}`);
        });
        page.on('request', (r) => {
          const u = new URL(r.url());
          if (u.pathname === '/cometd' || u.pathname.startsWith('/cometd/')) requests.push({ method: r.method(), url: u });
        });
        page.on('websocket', (w) => sockets.push(w.url()));
        const resp = await page.goto(`${srv.base}/`, { timeout: WAIT_MS });
        assert.equal(resp.status(), 200, 'test page served from --web-root');
        await page.waitForFunction(() => window.interop && window.interop.ready, null, { timeout: WAIT_MS }).catch((e) => {
          throw new Error(`test page did not initialise: ${e.message}\npage errors: ${pageErrors.join('\n')}`);
        });
        pages[name] = page;
      }

      before(async () => {
        await openPage('sub');
        await openPage('pub');
      });

      after(async () => {
        for (const page of Object.values(pages)) {
          await within(page.evaluate(() => window.interop.closeAll()), 'closing page clients', 10000).catch(() => {});
          await page.close().catch(() => {});
        }
      });

      const ev = (name, fn, arg) => within(pages[name].evaluate(fn, arg), `page.evaluate on ${name}`);

      async function logs() {
        const out = [];
        for (const n of ['sub', 'pub']) out.push(`--- ${kind}/${n} ---\n${await ev(n, (x) => window.interop.log(x), n).catch(() => '')}`);
        out.push(`page errors: ${pageErrors.join('\n') || 'none'}`);
        out.push(`--- encke stderr tail ---\n${srv.logTail(1500)}`);
        return out.join('\n');
      }

      async function withLogs(fn) {
        try {
          await ensureClients();
          await fn();
        } catch (e) {
          e.message += `\n${await logs()}`;
          throw e;
        }
      }

      async function ensureClients() {
        for (const n of ['sub', 'pub']) await ev(n, ([k, x]) => window.interop.create(k, x), [kind, n]);
      }

      const count = (ch) => ev('sub', ([c]) => window.interop.count('sub', c), [ch]);
      const subscribe = (ch) => ev('sub', ([c]) => window.interop.subscribe('sub', c), [ch]);

      async function assertClean() {
        for (const n of ['sub', 'pub']) {
          const info = await ev(n, (x) => window.interop.info(x), n);
          assert.deepEqual(info.failures, [], `${n}: protocol or transport failures`);
          assert.equal(info.handshakes, 1, `${n}: one handshake only`);
        }
      }

      function assertOnlyJsonp() {
        assert.ok(requests.length > 0, 'the pages made Bayeux requests');
        const bad = requests.filter((r) => r.method !== 'GET' || !r.url.searchParams.has('jsonp') || !r.url.searchParams.has('message'));
        assert.deepEqual(
          bad.map((r) => `${r.method} ${r.url.pathname}${r.url.search.slice(0, 80)}`),
          [],
          'every Bayeux request is a JSONP GET (jsonp + message parameters)',
        );
        assert.deepEqual(sockets, [], 'no WebSocket opened');
      }

      test('round trip: subscribe, publish (acknowledged), receive', async () => {
        await withLogs(async () => {
          const ch = `/brt/${uniq()}`;
          const a = await ev('sub', () => window.interop.info('sub'));
          const b = await ev('pub', () => window.interop.info('pub'));
          assert.ok(a.clientId && b.clientId && a.clientId !== b.clientId, 'two sessions');
          await subscribe(ch);
          const payload = { text: 'hello from the browser', n: 42 };
          await ev('pub', ([c, p]) => window.interop.publish('pub', c, p), [ch, payload]);
          await waitFor(() => count(ch).then((n) => n >= 1), 'delivery in the browser');
          await sleep(SETTLE_MS);
          assert.deepEqual(await ev('sub', ([c]) => window.interop.receivedJSON('sub', c), [ch]), [payload]);
          assert.equal(await ev('sub', ([c]) => window.interop.rawCount('sub', c), [ch]), 1);
          for (const n of ['sub', 'pub']) {
            const info = await ev(n, (x) => window.interop.info(x), n);
            assert.equal(info.transport, 'callback-polling', `${n}: ${JSON.stringify(info)}`);
            assert.deepEqual(info.connectTypes, ['callback-polling'], `${n} connects only over callback-polling`);
          }
          assertOnlyJsonp();
          await assertClean();
        });
      });

      test('1000 messages in order over callback-polling', async () => {
        await withLogs(async () => {
          const ch = `/border/${uniq()}`;
          await subscribe(ch);
          const N = 1000;
          // CometD sends one non-connect request at a time: a burst stays ordered. Faye sends
          // concurrent JSONP requests, so it publishes each message after the previous ack.
          const sequential = kind === 'faye';
          const res = await within(
            pages.pub.evaluate(([c, n, sq]) => window.interop.publishSeq('pub', c, n, sq), [ch, N, sequential]),
            `publishing ${N} messages`,
            WAIT_MS * 3,
          );
          assert.equal(res.failures, 0, `publish failures: ${JSON.stringify(res.first)}`);
          await waitFor(() => count(ch).then((n) => n >= N), `${N} deliveries in the browser`, { interval: 100 });
          await sleep(SETTLE_MS);
          const seqs = await ev('sub', ([c]) => window.interop.seqs('sub', c), [ch]);
          assert.equal(seqs.length, N, 'no duplicates');
          const firstBad = seqs.findIndex((v, i) => v !== i);
          assert.equal(firstBad, -1, `out of order at ${firstBad}: ${seqs.slice(Math.max(0, firstBad - 3), firstBad + 3)}`);
          assertOnlyJsonp();
          await assertClean();
        });
      });

      test('unicode arrives byte-identical over callback-polling', async () => {
        await withLogs(async () => {
          const ch = `/buni/${uniq()}`;
          await subscribe(ch);
          // One message per sample entry keeps each JSONP URL within CometD's maxURILength (2000).
          const payloads = [...Object.values(UNICODE_SAMPLE), '\u2028\u2029', '😀'];
          const sent = JSON.stringify(payloads);
          const n = await ev('pub', ([c, s]) => window.interop.publishB64('pub', c, s), [ch, b64(sent)]);
          assert.equal(n, payloads.length);
          await waitFor(() => count(ch).then((k) => k >= payloads.length), 'unicode deliveries');
          await sleep(SETTLE_MS);
          const got = unb64(await ev('sub', ([c]) => window.interop.receivedB64('sub', c), [ch]));
          assert.deepEqual(JSON.parse(got), payloads);
          assert.ok(Buffer.from(got, 'utf8').equals(Buffer.from(sent, 'utf8')), 'received JSON differs in bytes');
          assertOnlyJsonp();
          await assertClean();
        });
      });
    });
  }
});
