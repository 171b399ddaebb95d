// The AMQP 1.0 bridge (Qpid Proton C++) against a real RabbitMQ 3.10 with its AMQP 1.0 plugin
// (Debian `rabbitmq-server`), started and stopped here on free loopback ports. The test's own
// AMQP 1.0 clients are the npm package rhea; bulk traffic comes through RabbitMQ's STOMP plugin (a
// message sent there to /topic/<key> goes through the amq.topic exchange, where Encke's AMQP 1.0
// link for /topic/prices.# picks it up, with the routing key in `subject`).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { startRabbitMQ } from './lib/brokers.mjs';
import { connect as stompConnect } from './lib/stomp.mjs';
import { assertBulkInOrder, bridgeHealth, waitBridgeState } from './lib/encke.mjs';
import { amqpConnect } from './lib/amqp.mjs';
import { makeClient } from '../interop/lib/clients.mjs';
import { assertCleanExit, startServer, stopServer, uniq, waitFor, writeConfig } from '../interop/lib/harness.mjs';

const BROKER_TIMEOUT = 150000;

const health = (srv) => bridgeHealth(srv, 'rabbitmq');
const waitConnected = (srv, what) => waitBridgeState(srv, 'rabbitmq', 'connected', { what });

describe('RabbitMQ over AMQP 1.0', { timeout: 600000 }, () => {
  let rabbit;
  let srv;
  let producer;
  const clients = [];

  before(async () => {
    rabbit = await startRabbitMQ({ timeoutMs: BROKER_TIMEOUT });
    const { file } = writeConfig(`
[[bridge]]
name = "rabbitmq"
url = "amqp://127.0.0.1:${rabbit.amqpPort}"
heartbeat_ms = 4000
reconnect_min_ms = 200
reconnect_max_ms = 2000

[[bridge.route]]
from = "/topic/prices.#"
to = "/prices"
headers = ["subject"]

[[bridge.route]]
from = "/orders/**"
to = "/queue/orders"
fixed = true

[[bridge.route]]
from = "/fanout/*"
to = "/topic/fanout"

[[bridge.route]]
from = "/qfan/*"
to = "/queue/qfan"

# The same broker through its STOMP plugin (what docs/bridge.md recommends for RabbitMQ 3.10).
[[bridge]]
name = "rabbitmq-stomp"
url = "stomp://127.0.0.1:${rabbit.stompPort}"
vhost = "/"

[[bridge.route]]
from = "/topic/fx.#"
to = "/fx"

[[bridge.route]]
from = "/fxorders/*"
to = "/queue/fxorders"
`);
    srv = await startServer({ config: file, threads: 2 });
    await waitConnected(srv);
    producer = await stompConnect(rabbit.stomp);
  }, { timeout: BROKER_TIMEOUT + 60000 });

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    producer?.close();
    if (srv) assertCleanExit(await stopServer(srv), srv);
    await rabbit?.dispose();
  }, { timeout: 60000 });

  async function client(transport, name) {
    const c = await makeClient('cometd', srv.url, transport, name);
    clients.push(c);
    await c.start();
    return c;
  }

  for (const transport of ['websocket', 'long-polling']) {
    test(`a broker message reaches a CometD client on the mapped channel (${transport})`, async () => {
      const c = await client(transport, `in-${transport}`);
      const got = [];
      await c.subscribe('/prices/*', (ch, d, m) => got.push(m));
      const body = { symbol: 'EURUSD', bid: 1.0843, transport };
      await producer.send('/topic/prices.EURUSD', JSON.stringify(body), { receipt: true, headers: { 'content-type': 'application/json' } });
      await waitFor(() => got.length >= 1, 'the STOMP-sent message on /prices/EURUSD', { timeout: 20000 });
      assert.equal(got[0].channel, '/prices/EURUSD');
      assert.deepEqual(got[0].data, body);
      assert.equal(got[0].ext?.broker?.subject, 'prices.EURUSD');
      // From an AMQP 1.0 producer: RabbitMQ 3.10 passes its `to` through (and no routing key).
      const amqp = await amqpConnect({ port: rabbit.amqpPort });
      try {
        const body2 = { symbol: 'USDJPY', bid: 151.32, transport };
        await amqp.send('/topic/prices.USDJPY', JSON.stringify(body2), { to: '/topic/prices.USDJPY' });
        await waitFor(() => got.length >= 2, 'the AMQP-sent message on /prices/USDJPY', { timeout: 20000 });
        assert.equal(got[1].channel, '/prices/USDJPY');
        assert.deepEqual(got[1].data, body2);
      } finally {
        amqp.close();
      }
    });
  }

  test('a browser publish reaches an AMQP queue consumer as a text message, confirmed by the broker', async () => {
    const consumer = await amqpConnect({ port: rabbit.amqpPort });
    try {
      const rx = await consumer.receiver('/queue/orders', { durable: true });
      for (const transport of ['websocket', 'long-polling']) {
        const c = await client(transport, `out-${transport}`);
        const order = { id: uniq('o'), qty: 2, transport };
        const reply = await c.publish('/orders/eu', order);
        assert.equal(reply.successful, true);
        const m = await rx.next(10000);
        assert.equal(typeof m.body, 'string', 'an amqp-value string body: the JMS TextMessage mapping');
        assert.deepEqual(JSON.parse(m.body), order);
        assert.equal(m.content_type, 'application/json');
        assert.equal(m.durable, true);
      }
    } finally {
      consumer.close();
    }
  });

  test('publishes to many topics share one sender link (RabbitMQ: /exchange/amq.topic with the key as subject)', async () => {
    const c = await client('websocket', 'fanout');
    const consumer = await amqpConnect({ port: rabbit.amqpPort });
    try {
      const rx = await consumer.receiver('/topic/fanout.*');
      const before = (await health(srv)).out_links;
      for (let i = 0; i < 100; i++) {
        const r = await c.publish(`/fanout/d${i}`, { i });
        assert.equal(r.successful, true, `publish ${i}: ${JSON.stringify(r)}`);
      }
      for (let i = 0; i < 100; i++) {
        const m = await rx.next(10000);
        assert.deepEqual(JSON.parse(m.body), { i });
        assert.equal(m.subject, `fanout.d${i}`, 'routed by its key');
      }
      const after = (await health(srv)).out_links;
      assert.ok(after - before <= 1, `out_links ${before} → ${after} for 100 topics`);
    } finally {
      consumer.close();
    }
  });

  test('publishes to many queues do not keep a sender link each: idle ones are closed past 64', async () => {
    const c = await client('websocket', 'qfan');
    for (let i = 0; i < 80; i++) {
      const r = await c.publish(`/qfan/q${i}`, { i });
      assert.equal(r.successful, true, `publish ${i}: ${JSON.stringify(r)}`);
    }
    const h = await health(srv);
    assert.ok(h.out_links >= 1 && h.out_links <= 65, `out_links ${h.out_links} after 80 queues`);
    // A destination whose link was closed is attached again on its next send.
    assert.equal((await c.publish('/qfan/q0', { again: true })).successful, true);
  });

  test('the STOMP bridge to RabbitMQ works both ways too', async () => {
    await waitBridgeState(srv, 'rabbitmq-stomp', 'connected');
    const c = await client('websocket', 'rabbit-stomp');
    const got = [];
    await c.subscribe('/fx/**', (ch, d, m) => got.push(m));
    await producer.send('/topic/fx.EURUSD', '{"bid":1.1}', { receipt: true });
    await waitFor(() => got.length === 1, 'the message through the STOMP bridge', { timeout: 10000 });
    assert.equal(got[0].channel, '/fx/EURUSD');
    const consumer = await stompConnect(rabbit.stomp);
    try {
      const sub = await consumer.subscribe('/queue/fxorders.eu');
      assert.equal((await c.publish('/fxorders/eu', { q: 5 })).successful, true);
      assert.deepEqual(JSON.parse((await sub.next(10000)).text), { q: 5 });
    } finally {
      await consumer.disconnect().catch(() => consumer.close());
    }
  });

  test('10,000 messages arrive in order with none lost', { timeout: 120000 }, async () => {
    const c = await client('websocket', 'bulk');
    await assertBulkInOrder(c, '/prices/bulk', (body, receipt) => producer.send('/topic/prices.bulk', body, { receipt }));
  });

  // prefetch: at most that many messages sent to Encke and not yet acknowledged, per
  // subscription. Encke is stopped (SIGSTOP) so it acknowledges nothing: the broker must hold
  // the rest back, and hand it over in order once Encke runs again.
  test('flow control: a stalled Encke holds at most `prefetch` unacknowledged messages (AMQP and STOMP)', { timeout: 180000 }, async () => {
    const { file } = writeConfig(`
[[bridge]]
name = "flow-amqp"
url = "amqp://127.0.0.1:${rabbit.amqpPort}"
prefetch = 10
heartbeat_ms = 0

[[bridge.route]]
from = "/topic/flowa.#"
to = "/flowa"

[[bridge]]
name = "flow-stomp"
url = "stomp://127.0.0.1:${rabbit.stompPort}"
vhost = "/"
prefetch = 10
heartbeat_ms = 0

[[bridge.route]]
from = "/topic/flows.#"
to = "/flows"
`);
    const flow = await startServer({ config: file });
    let stopped = false;
    try {
      await waitBridgeState(flow, 'flow-amqp', 'connected');
      await waitBridgeState(flow, 'flow-stomp', 'connected');
      const c = await makeClient('cometd', flow.url, 'websocket', 'flow');
      clients.push(c);
      await c.start();
      const got = { flowa: [], flows: [] };
      await c.subscribe('/flowa/*', (ch, d) => got.flowa.push(d.n));
      await c.subscribe('/flows/*', (ch, d) => got.flows.push(d.n));
      // Each route's queue, by the binding key its subscription made on amq.topic.
      const queueOf = async (key) => {
        const rows = (await rabbit.ctl('list_bindings', '-q', 'source_name', 'destination_name', 'routing_key')).trim().split('\n');
        const row = rows.map((r) => r.split('\t')).find((r) => r[0] === 'amq.topic' && r[2] === key);
        assert.ok(row, `no binding for ${key} in:\n${rows.join('\n')}`);
        return row[1];
      };
      const queues = { flowa: await queueOf('flowa.#'), flows: await queueOf('flows.#') };

      process.kill(flow.pid, 'SIGSTOP');
      stopped = true;
      const N = 100;
      for (let n = 1; n <= N; n++) {
        await producer.send('/topic/flowa.x', JSON.stringify({ n }), { receipt: n === N });
        await producer.send('/topic/flows.x', JSON.stringify({ n }), { receipt: n === N });
      }
      const counts = async () => {
        const rows = (await rabbit.ctl('list_queues', '-q', 'name', 'messages_ready', 'messages_unacknowledged')).trim().split('\n');
        const byName = Object.fromEntries(rows.map((r) => r.split('\t')).map(([name, ready, unacked]) => [name, { ready: Number(ready), unacked: Number(unacked) }]));
        return { flowa: byName[queues.flowa], flows: byName[queues.flows] };
      };
      // The broker has sent what the credit allows; the rest is still ready in the queue.
      await waitFor(async () => {
        const q = await counts();
        return q.flowa?.ready + q.flowa?.unacked === N && q.flows?.ready + q.flows?.unacked === N;
      }, 'all 2 × 100 messages routed to the two queues', { timeout: 30000, interval: 500 });
      const held = await counts();
      for (const k of ['flowa', 'flows']) {
        assert.ok(held[k].unacked >= 1 && held[k].unacked <= 10, `${k}: ${held[k].unacked} unacknowledged (prefetch 10)`);
        assert.equal(held[k].ready, N - held[k].unacked, `${k}: the rest waits in the broker`);
      }

      process.kill(flow.pid, 'SIGCONT');
      stopped = false;
      await waitFor(() => got.flowa.length >= N && got.flows.length >= N, 'all messages once Encke runs again', { timeout: 30000 });
      const upTo = Array.from({ length: N }, (_, i) => i + 1);
      assert.deepEqual(got.flowa, upTo, 'AMQP route: all, once, in order');
      assert.deepEqual(got.flows, upTo, 'STOMP route: all, once, in order');
      await waitFor(async () => {
        const q = await counts();
        return q.flowa.ready + q.flowa.unacked === 0 && q.flows.ready + q.flows.unacked === 0;
      }, 'both queues empty: every message acknowledged', { timeout: 30000, interval: 500 });
    } finally {
      if (stopped) process.kill(flow.pid, 'SIGCONT');
      assertCleanExit(await stopServer(flow), flow);
    }
  });

  test('the broker restarted: the bridge reconnects and both directions work again', { timeout: 300000 }, async () => {
    const c = await client('websocket', 'restart');
    const seen = [];
    await c.subscribe('/prices/live', (ch, d) => seen.push(d.n));
    const before = await health(srv);
    producer.close();
    await rabbit.kill();
    await waitFor(async () => (await health(srv)).state === 'disconnected', 'the bridge to notice', { timeout: 30000, interval: 100 });
    await assert.rejects(c.publish('/orders/eu', { id: 'lost' }), /503::broker_unavailable/);
    await rabbit.start();
    const b = await waitConnected(srv, 'the bridge to reconnect after the restart');
    assert.equal(b.reconnects, before.reconnects + 1);
    producer = await stompConnect(rabbit.stomp);
    await waitFor(async () => {
      await producer.send('/topic/prices.live', '{"n":1}', { receipt: true });
      return seen.length > 0;
    }, 'a message after the restart', { timeout: 20000, interval: 500 });
    const consumer = await amqpConnect({ port: rabbit.amqpPort });
    try {
      const rx = await consumer.receiver('/queue/orders', { durable: true });
      assert.equal((await c.publish('/orders/eu', { id: 'after' })).successful, true);
      assert.deepEqual(JSON.parse((await rx.next(10000)).body), { id: 'after' });
    } finally {
      consumer.close();
    }
    assert.equal(srv.stderr.split('\n').filter((l) => /bridge rabbitmq: disconnected/.test(l)).length, 1, 'the outage is logged once');
  });
});
