// The STOMP bridge against a real ActiveMQ 5.17 (Debian `activemq`), started and stopped here on
// free loopback ports. Browsers are the unmodified CometD client (cometd-nodejs-client) and, where
// the exact bytes matter, a raw WebSocket client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { startActiveMQ } from './lib/brokers.mjs';
import { connect as stompConnect } from './lib/stomp.mjs';
import { assertBulkInOrder, bridgeHealth, waitBridgeState } from './lib/encke.mjs';
import { makeClient } from '../interop/lib/clients.mjs';
import { assertCleanExit, sleep, startServer, stopServer, uniq, waitFor, writeConfig } from '../interop/lib/harness.mjs';
import { WsClient } from '../integration/lib/bayeux.mjs';

const BROKER_TIMEOUT = 120000;

function bridgeToml(port, extra = '') {
  return `
[[bridge]]
name = "activemq"
url = "stomp://127.0.0.1:${port}"
heartbeat_ms = 2000
reconnect_min_ms = 200
reconnect_max_ms = 2000
${extra}

[[bridge.route]]
from = "/topic/prices.>"
to = "/prices"
headers = ["destination", "priority"]

[[bridge.route]]
from = "/topic/one.*.tick"
to = "/one"

[[bridge.route]]
from = "/topic/strict.>"
to = "/strict"
non_json = "refuse"
max_bytes = 64

[[bridge.route]]
from = "/topic/loose.>"
to = "/loose"

[[bridge.route]]
from = "/orders/**"
to = "/queue/orders"
`;
}

const health = (srv) => bridgeHealth(srv, 'activemq');
const waitConnected = (srv, what) => waitBridgeState(srv, 'activemq', 'connected', { what });

describe('ActiveMQ over STOMP', { timeout: 600000 }, () => {
  let amq;
  let srv;
  let producer;
  const clients = [];

  before(async () => {
    amq = await startActiveMQ({ timeoutMs: BROKER_TIMEOUT });
    const { file } = writeConfig(bridgeToml(amq.stompPort));
    srv = await startServer({ config: file, threads: 2 });
    await waitConnected(srv);
    producer = await stompConnect(amq.stomp);
  }, { timeout: BROKER_TIMEOUT + 60000 });

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    producer?.close();
    const stopped = await stopServer(srv);
    if (srv) assertCleanExit(stopped, srv);
    await amq?.dispose();
  }, { timeout: 60000 });

  async function client(transport, name) {
    const c = await makeClient('cometd', srv.url, transport, name);
    clients.push(c);
    await c.start();
    return c;
  }

  for (const transport of ['websocket', 'long-polling']) {
    test(`a JMS TextMessage sent to a topic by ActiveMQ's own producer reaches a CometD client (${transport})`, async () => {
      const c = await client(transport, `jms-${transport}`);
      const got = [];
      await c.subscribe('/prices/EURUSD', (ch, d, m) => got.push(m));
      const body = { symbol: 'EURUSD', bid: 1.0843, transport };
      await amq.produce('topic://prices.EURUSD', JSON.stringify(body));
      await waitFor(() => got.length >= 1, 'the JMS message on /prices/EURUSD', { timeout: 20000 });
      assert.deepEqual(got[0].data, body);
      assert.equal(got[0].channel, '/prices/EURUSD');
      assert.equal(got[0].ext?.broker?.destination, '/topic/prices.EURUSD', 'named headers are carried in ext.broker');
      assert.equal(got[0].ext?.broker?.priority, '4');
      assert.equal(got.length, 1);
    });
  }

  test('a JSON body is the Bayeux data byte for byte', async () => {
    const ws = await WsClient.open(srv);
    try {
      await ws.handshake({ types: ['websocket'] });
      await ws.subscribe('/prices/raw');
      const body = '{"b" : 1,  "a":[1.50, "x\\u00e9"] , "n":null}';
      await producer.send('/topic/prices.raw', body, { receipt: true });
      const d = await ws.waitDelivery((m) => m.channel === '/prices/raw', { timeoutMs: 10000 });
      assert.ok(d.frame.text.includes(`"data":${body}`), `frame ${d.frame.text} does not hold ${body} verbatim`);
    } finally {
      ws.close();
    }
  });

  test('wildcard routes map destination segments to channel segments', async () => {
    const c = await client('websocket', 'wild');
    const deep = [];
    const one = [];
    await c.subscribe('/prices/**', (ch, d, m) => deep.push(m));
    await c.subscribe('/one/*', (ch, d, m) => one.push(m));
    await producer.send('/topic/prices.fx.GBPUSD', '{"n":1}', { receipt: true });
    await producer.send('/topic/one.AAPL.tick', '{"n":2}', { receipt: true });
    await producer.send('/topic/one.AAPL.other', '{"n":3}', { receipt: true }); // matches no route
    await waitFor(() => deep.length >= 1 && one.length >= 1, 'both wildcard deliveries', { timeout: 10000 });
    assert.equal(deep[0].channel, '/prices/fx/GBPUSD');
    assert.equal(one[0].channel, '/one/AAPL');
    await sleep(300);
    assert.equal(one.length, 1);
  });

  test('a browser publish reaches a queue consumer as a JMS TextMessage, and is confirmed only then', async () => {
    const consumer = await stompConnect(amq.stomp);
    try {
      const sub = await consumer.subscribe('/queue/orders.eu');
      for (const transport of ['websocket', 'long-polling']) {
        const c = await client(transport, `pub-${transport}`);
        const order = { id: uniq('o'), qty: 3, transport };
        const reply = await c.publish('/orders/eu', order);
        assert.equal(reply.successful, true);
        const m = await sub.next(10000);
        assert.deepEqual(JSON.parse(m.text), order);
        assert.equal(m.headers['content-type'], 'application/json');
        assert.equal(m.headers['content-length'], undefined, 'no content-length: a JMS TextMessage');
        assert.equal(m.headers.persistent, 'true');
      }
    } finally {
      await consumer.disconnect().catch(() => consumer.close());
    }
  });

  test('10,000 messages arrive in order with none lost', { timeout: 120000 }, async () => {
    const c = await client('websocket', 'bulk');
    await assertBulkInOrder(c, '/prices/bulk', (body, receipt) => producer.send('/topic/prices.bulk', body, { receipt }));
  });

  test('non-JSON and oversized messages are handled per route, and the bridge goes on', { timeout: 120000 }, async () => {
    const c = await client('websocket', 'strict');
    const strict = [];
    const loose = [];
    await c.subscribe('/strict/a', (ch, d) => strict.push(d));
    await c.subscribe('/loose/a', (ch, d) => loose.push(d));
    const before = await health(srv);
    await producer.send('/topic/strict.a', 'not json', { receipt: true });
    await producer.send('/topic/strict.a', JSON.stringify({ pad: 'x'.repeat(100) }), { receipt: true });
    await producer.send('/topic/loose.a', 'plain text, "quoted"', { receipt: true });
    // Over the bridge's STOMP frame limit (16 MiB): skipped and refused, the connection stays.
    await producer.send('/topic/loose.a', `"${'y'.repeat(17 * 1024 * 1024)}"`, { receipt: true, timeoutMs: 30000 });
    await producer.send('/topic/strict.a', '{"ok":true}', { receipt: true });
    await waitFor(() => strict.length >= 1 && loose.length >= 1, 'the valid messages', { timeout: 10000 });
    assert.deepEqual(strict, [{ ok: true }]);
    assert.deepEqual(loose, ['plain text, "quoted"'], 'non-JSON text becomes a JSON string');
    const after = await health(srv);
    assert.equal(after.refused_in - before.refused_in, 3);
    assert.equal(after.state, 'connected');
    assert.equal(after.reconnects, before.reconnects, 'refusals do not drop the connection');
    assert.match(srv.stderr, /refused a message from \/topic\/strict\.a/);
  });

  test('the broker killed and restarted mid-stream: the bridge recovers, browsers are served meanwhile', { timeout: 240000 }, async () => {
    const c = await client('websocket', 'crash');
    const seen = [];
    await c.subscribe('/prices/live', (ch, d) => seen.push(d.seq));
    const local = [];
    await c.subscribe('/local/chat', (ch, d) => local.push(d));
    let seq = 0;
    for (; seq < 50; seq++) await producer.send('/topic/prices.live', `{"seq":${seq}}`, { receipt: seq === 49 });
    await waitFor(() => seen.length >= 50, 'messages before the crash', { timeout: 20000 });
    const before = await health(srv);

    await amq.kill();
    producer.close();
    await waitFor(async () => (await health(srv)).state === 'disconnected', 'the bridge to notice', { timeout: 20000, interval: 100 });
    // Browsers keep being served, and a publish to the broker fails with a reason they see.
    await c.publish('/local/chat', { text: 'still here' });
    await waitFor(() => local.length === 1, 'a local publish during the outage', { timeout: 10000 });
    await assert.rejects(c.publish('/orders/eu', { id: 'lost' }), /503::broker_unavailable/);
    assert.ok(srv.child.exitCode === null, 'encke is still running');

    await amq.start();
    const b = await waitConnected(srv, 'the bridge to reconnect after the restart');
    assert.equal(b.reconnects, before.reconnects + 1);
    producer = await stompConnect(amq.stomp);
    for (; seq < 100; seq++) await producer.send('/topic/prices.live', `{"seq":${seq}}`, { receipt: seq === 99 });
    await waitFor(() => seen.includes(99), 'messages after the restart', { timeout: 20000 });
    assert.deepEqual(seen.slice(-50), Array.from({ length: 50 }, (_, i) => 50 + i));
    const lines = srv.stderr.split('\n');
    assert.equal(lines.filter((l) => /bridge activemq: disconnected/.test(l)).length, 1, 'the outage is logged once');
    assert.equal((await c.publish('/orders/eu', { id: 'after' })).successful, true);
  });
});

describe('ActiveMQ durable subscription', { timeout: 600000 }, () => {
  let amq;
  before(async () => { amq = await startActiveMQ({ timeoutMs: BROKER_TIMEOUT }); }, { timeout: BROKER_TIMEOUT + 10000 });
  after(async () => { await amq?.dispose(); }, { timeout: 60000 });

  test('a durable route receives what was published while Encke was stopped, once', { timeout: 180000 }, async () => {
    const { file } = writeConfig(`
[[bridge]]
name = "activemq"
url = "stomp://127.0.0.1:${amq.stompPort}"
client_id = "encke-durable-test"

[[bridge.route]]
from = "/topic/audit.>"
to = "/audit"
durable = true
`);
    let srv = await startServer({ config: file, threads: 2 });
    await waitConnected(srv);
    assertCleanExit(await stopServer(srv), srv);

    const p = await stompConnect(amq.stomp);
    for (let i = 0; i < 5; i++) {
      await p.send('/topic/audit.login', `{"n":${i}}`, { receipt: true, headers: { persistent: 'true' } });
    }
    await p.disconnect();

    srv = await startServer({ config: file, threads: 2 });
    try {
      await waitConnected(srv);
      await waitFor(async () => (await health(srv)).messages_in === 5, 'the 5 messages sent while Encke was down', { timeout: 20000, interval: 100 });
    } finally {
      assertCleanExit(await stopServer(srv), srv);
    }
    // They were acknowledged: a third start gets nothing again.
    srv = await startServer({ config: file, threads: 2 });
    try {
      await waitConnected(srv);
      await sleep(1000);
      assert.equal((await health(srv)).messages_in, 0);
    } finally {
      assertCleanExit(await stopServer(srv), srv);
    }
  });
});

describe('ActiveMQ over STOMP with TLS (stomp+ssl://)', { timeout: 300000 }, () => {
  let amq;
  before(async () => { amq = await startActiveMQ({ tls: true, timeoutMs: BROKER_TIMEOUT }); }, { timeout: BROKER_TIMEOUT + 10000 });
  after(async () => { await amq?.dispose(); }, { timeout: 60000 });

  const tlsBridge = (extra) => `
[[bridge]]
name = "activemq"
url = "stomp+ssl://127.0.0.1:${amq.stompSslPort}"
reconnect_min_ms = 200
reconnect_max_ms = 1000
${extra}

[[bridge.route]]
from = "/topic/secure.>"
to = "/secure"

[[bridge.route]]
from = "/out/**"
to = "/queue/secure"
`;

  test('with the broker certificate trusted, messages flow both ways over TLS', async () => {
    const { file } = writeConfig(tlsBridge(`tls_ca_file = "${amq.certPem}"`));
    const srv = await startServer({ config: file, threads: 2 });
    const c = await makeClient('cometd', srv.url, 'websocket', 'tls');
    const stomp = await stompConnect(amq.stomp);
    try {
      await waitConnected(srv, 'the TLS bridge to connect');
      await c.start();
      const got = [];
      await c.subscribe('/secure/a', (ch, d) => got.push(d));
      await stomp.send('/topic/secure.a', '{"x":1}', { receipt: true });
      await waitFor(() => got.length === 1, 'a message over TLS', { timeout: 10000 });
      assert.deepEqual(got[0], { x: 1 });
      const sub = await stomp.subscribe('/queue/secure.b');
      assert.equal((await c.publish('/out/b', { y: 2 })).successful, true);
      assert.deepEqual(JSON.parse((await sub.next(10000)).text), { y: 2 });
    } finally {
      await c.close();
      stomp.close();
      assertCleanExit(await stopServer(srv), srv);
    }
  });

  test('an untrusted certificate is refused, and said so', async () => {
    const { file } = writeConfig(tlsBridge(''));
    const srv = await startServer({ config: file, threads: 2 });
    try {
      const b = await waitFor(async () => {
        const h = await health(srv);
        return h.state === 'disconnected' ? h : null;
      }, 'the bridge to give up on the handshake', { timeout: 20000, interval: 100 });
      assert.match(b.detail, /TLS handshake failed: .*certificate verify failed/);
      assert.equal(b.reconnects, 0);
    } finally {
      assertCleanExit(await stopServer(srv), srv);
    }
  });
});
