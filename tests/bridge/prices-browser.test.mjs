// The live-prices demo end to end: prices published to a real ActiveMQ over STOMP (as the demo's
// feed does) appear in web/prices.html in headless Chromium, through Encke's bridge, over each
// transport. One screenshot per transport goes to test-artifacts/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { startActiveMQ } from './lib/brokers.mjs';
import { connect as stompConnect } from './lib/stomp.mjs';
import { waitBridgeState } from './lib/encke.mjs';
import { REPO_ROOT, startServer, stopServer, assertCleanExit, waitFor, writeConfig } from '../interop/lib/harness.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
const WAIT = 20000;

describe('live-prices page', { timeout: 300000 }, () => {
  let amq;
  let srv;
  let browser;
  let feed;

  before(async () => {
    amq = await startActiveMQ();
    const { file } = writeConfig(fs.readFileSync(path.join(REPO_ROOT, 'examples/bridge/prices-activemq.toml'), 'utf8')
      .replace(/^\[server\][^[]*/m, '')
      .replace('stomp://127.0.0.1:61613', `stomp://127.0.0.1:${amq.stompPort}`));
    srv = await startServer({ config: file, webRoot: path.join(REPO_ROOT, 'web') });
    await waitBridgeState(srv, 'activemq', 'connected');
    feed = await stompConnect(amq.stomp);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  }, { timeout: 180000 });

  after(async () => {
    await browser?.close().catch(() => {});
    feed?.close();
    if (srv) assertCleanExit(await stopServer(srv), srv);
    await amq?.dispose();
  }, { timeout: 60000 });

  for (const transport of ['websocket', 'long-polling', 'callback-polling']) {
    test(`prices from ActiveMQ update the table live (${transport})`, async () => {
      const page = await browser.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      try {
        await page.goto(`${srv.base}/prices.html?transport=${transport}`);
        await page.waitForFunction(() => document.getElementById('status').dataset.state === 'connected', null, { timeout: WAIT });
        assert.equal(await page.textContent('#transport-in-use'), transport);
        const send = (bid) => feed.send('/topic/prices.EURUSD',
          JSON.stringify({ symbol: 'EURUSD', bid, ask: bid + 0.0002, ts: Date.now() }), { receipt: true });
        // The first quote may race the page's subscription: send until the row appears.
        await waitFor(async () => {
          await send(1.0843);
          return page.$('tr[data-symbol="EURUSD"]');
        }, 'the EURUSD row', { timeout: WAIT, interval: 250 });
        await send(1.0907);
        await page.waitForFunction(() => document.querySelector('tr[data-symbol="EURUSD"] .bid')?.textContent === '1.0907', null, { timeout: WAIT });
        assert.equal(await page.textContent('tr[data-symbol="EURUSD"] .ask'), '1.0909');
        assert.equal(await page.textContent('tr[data-symbol="EURUSD"] .arrow'), '▲');
        await page.screenshot({ path: path.join(ARTIFACTS, `prices-${transport}.png`) });
        assert.deepEqual(errors, []);
      } finally {
        await page.close();
      }
    });
  }
});
