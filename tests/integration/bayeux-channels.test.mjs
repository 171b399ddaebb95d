// PROTOCOL.md §8 behaviours 19-33: subscriptions, publishing, routing, replies.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, stopClean } from './lib/server.mjs';
import { HttpClient, WsClient, uniqChannel, nonce, unknownClientId } from './lib/bayeux.mjs';

let server;
before(async () => { server = await startServer(); });
after(async () => { await stopClean(server); });

/** A subscriber session (handshake, subscriptions, first connect). */
async function subscriber(...subs) {
  const c = new HttpClient(server);
  await c.handshake();
  for (const s of subs) {
    const r = await c.subscribe(s);
    assert.equal(r.successful, true, `subscribe ${JSON.stringify(s)}: ${JSON.stringify(r)}`);
  }
  await c.connect({ advice: { timeout: 0 } });
  return c;
}

async function publisher() {
  const c = new HttpClient(server);
  await c.handshake();
  return c;
}

test('B19 subscribe echoes the subscription, string or array', async () => {
  const c = await new HttpClient(server).open();
  const r = await c.subscribe('/a/*');
  assert.equal(r.successful, true, JSON.stringify(r));
  assert.equal(r.subscription, '/a/*');
  const root = uniqChannel();
  const arr = [`${root}/b`, `${root}/c/*`, `${root}/**`];
  const r2 = await c.subscribe(arr);
  assert.equal(r2.successful, true, JSON.stringify(r2));
  assert.deepEqual(r2.subscription, arr);
  await c.disconnect();
});

test('B20 subscribing to /meta channels is refused with 403', async () => {
  const c = await new HttpClient(server).open();
  for (const ch of ['/meta/connect', '/meta/foo', '/meta/*', '/meta/**']) {
    const r = await c.subscribe(ch);
    assert.equal(r.successful, false, `${ch}: ${JSON.stringify(r)}`);
    assert.match(r.error || '', /^403/, `${ch}: ${JSON.stringify(r)}`);
    assert.equal(r.error, '403:denied_by_security_policy:subscribe_denied', `${ch}`);
    assert.equal(r.subscription, ch, 'failed subscribe reply must echo the subscription');
  }
  await c.disconnect();
});

test('B21 /service subscription succeeds but never receives other clients\' service publishes', async () => {
  const root = uniqChannel();
  const s = await subscriber('/service/echo', `${root}/end`);
  const p = await publisher();
  const n = nonce();
  const ack = await p.publish('/service/echo', { n });
  assert.equal(ack.successful, true, JSON.stringify(ack));
  await p.publish(`${root}/end`, { end: true });
  const got = await s.collectUntil((m) => m.channel === `${root}/end`);
  assert.ok(!got.some((m) => m.channel === '/service/echo'), `service publish was delivered: ${JSON.stringify(got)}`);
  await s.disconnect();
  await p.disconnect();
});

test('B22 subscribe without or with an invalid subscription is refused', async () => {
  const c = await new HttpClient(server).open();
  const { reply: missing } = await c.call({ channel: '/meta/subscribe' });
  assert.equal(missing.successful, false);
  assert.match(missing.error || '', /^403/);
  assert.equal(missing.error, '403::subscription_missing');
  for (const bad of ['foo', '/a/*/b', '/a/**/b']) {
    const r = await c.subscribe(bad);
    assert.equal(r.successful, false, `${bad}: ${JSON.stringify(r)}`);
    assert.match(r.error || '', /^40[35]/, `${bad}: ${JSON.stringify(r)}`);
  }
  await c.disconnect();
});

test('B23 subscribing twice succeeds twice and still yields one copy per publish', async () => {
  const ch = uniqChannel();
  const s = new HttpClient(server);
  await s.handshake();
  assert.equal((await s.subscribe(ch)).successful, true);
  assert.equal((await s.subscribe(ch)).successful, true);
  await s.connect({ advice: { timeout: 0 } });
  const p = await publisher();
  const n = nonce();
  await p.publish(ch, { n });
  await p.publish(ch, { end: n });
  const got = await s.collectUntil((m) => m.channel === ch && m.data?.end === n);
  assert.equal(got.filter((m) => m.data?.n === n).length, 1, `copies: ${JSON.stringify(got)}`);
  await s.disconnect();
  await p.disconnect();
});

test('B24 unsubscribe is idempotent and stops delivery', async () => {
  const root = uniqChannel();
  const s = await subscriber(`${root}/a`, `${root}/end`);
  const never = await s.unsubscribe(`${root}/never`);
  assert.equal(never.successful, true, JSON.stringify(never));
  const un = await s.unsubscribe(`${root}/a`);
  assert.equal(un.successful, true, JSON.stringify(un));
  assert.equal(un.subscription, `${root}/a`);
  const p = await publisher();
  const n = nonce();
  await p.publish(`${root}/a`, { n });
  await p.publish(`${root}/end`, { end: true });
  const got = await s.collectUntil((m) => m.channel === `${root}/end`);
  assert.ok(!got.some((m) => m.channel === `${root}/a`), `delivered after unsubscribe: ${JSON.stringify(got)}`);
  await s.disconnect();
  await p.disconnect();
});

test('B25 a publish is acknowledged with exactly id, channel, successful (no data)', async () => {
  const c = await publisher();
  const { reply } = await c.call({ channel: '/a/b', data: { text: 'hi' }, id: '9' });
  const keys = Object.keys(reply).sort();
  assert.equal(reply.id, '9');
  assert.equal(reply.channel, '/a/b');
  assert.equal(reply.successful, true);
  assert.ok(!('data' in reply), `publish ack carries data: ${JSON.stringify(reply)}`);
  assert.ok(!('advice' in reply), `publish ack carries advice: ${JSON.stringify(reply)}`);
  for (const k of keys) assert.ok(['id', 'channel', 'successful', 'clientId'].includes(k), `unexpected field ${k} in ${JSON.stringify(reply)}`);
  await c.disconnect();
});

test('B26 a delivery keeps channel, data and ext and drops clientId, id and successful', async (t) => {
  const ch = uniqChannel();
  const s = await subscriber(ch);
  const p = await publisher();
  const n = nonce();
  const data = { text: 'hé ✓', n, nested: { list: [1, 2.5, null, true, 'x'] } };
  const ext = { foo: { bar: [1, 2] }, binary: {} };
  const ack = await p.publish(ch, data, { ext, custom: { kept: n }, id: '77' });
  assert.equal(ack.successful, true);
  const d = await s.waitFor((m) => m.channel === ch && m.data?.n === n);
  await t.test('channel, data and ext forwarded; clientId, id, successful removed', () => {
    assert.equal(d.channel, ch);
    assert.deepEqual(d.data, data);
    assert.deepEqual(d.ext, ext);
    assert.ok(!('clientId' in d), `delivery carries clientId: ${JSON.stringify(d)}`);
    assert.ok(!('id' in d), `delivery carries id: ${JSON.stringify(d)}`);
    assert.ok(!('successful' in d), `delivery carries successful: ${JSON.stringify(d)}`);
  });
  await t.test('unknown top-level fields travel with the message (§1.1)', () => {
    assert.deepEqual(d.custom, { kept: n }, `delivery: ${JSON.stringify(d)}`);
  });
  await s.disconnect();
  await p.disconnect();
});

test('B27 overlapping subscriptions (/a/*, /a/b, /**) receive a publish exactly once', async () => {
  const root = uniqChannel();
  const s = await subscriber(`${root}/*`, `${root}/b`, '/**');
  const p = await publisher();
  const n = nonce();
  await p.publish(`${root}/b`, { n });
  await p.publish(`${root}/end`, { end: n });
  const got = await s.collectUntil((m) => m.channel === `${root}/end` && m.data?.end === n);
  assert.equal(got.filter((m) => m.channel === `${root}/b` && m.data?.n === n).length, 1, `copies: ${JSON.stringify(got.filter((m) => m.channel.startsWith(root)))}`);
  assert.equal(got.filter((m) => m.data?.end === n).length, 1);
  await s.disconnect();
  await p.disconnect();
});

test('B28 wildcard matching: /a/* one segment, /a/** any depth, /** everything', async () => {
  const a = uniqChannel();
  const n = nonce();
  const s1 = await subscriber(`${a}/*`);
  const s2 = await subscriber(`${a}/**`);
  const s3 = await subscriber('/**');
  const p = await publisher();
  for (const [ch, k] of [[a, 'a'], [`${a}/b`, 'ab'], [`${a}/b/c`, 'abc'], [`${a}x/b`, 'sibling'], [`${a}/zz`, 'end']]) {
    assert.equal((await p.publish(ch, { n, k })).successful, true, ch);
  }
  const keys = async (c) => (await c.collectUntil((m) => m.data?.n === n && m.data?.k === 'end'))
    .filter((m) => m.data?.n === n).map((m) => m.data.k).sort();
  assert.deepEqual(await keys(s1), ['ab', 'end'], '/a/* receives /a/b only');
  assert.deepEqual(await keys(s2), ['ab', 'abc', 'end'], '/a/** receives /a/b and /a/b/c');
  assert.deepEqual(await keys(s3), ['a', 'ab', 'abc', 'end', 'sibling'], '/** receives every broadcast channel');
  for (const c of [s1, s2, s3, p]) await c.disconnect();
});

test('B29 a subscribed publisher receives its own message', async () => {
  const ch = uniqChannel();
  const c = await subscriber(ch);
  const n = nonce();
  assert.equal((await c.publish(ch, { n })).successful, true);
  const d = await c.waitFor((m) => m.channel === ch && m.data?.n === n);
  assert.deepEqual(d.data, { n });
  await c.disconnect();
});

test('B30 a /service publish is acknowledged and reaches no remote client, not even /** subscribers', async () => {
  const root = uniqChannel();
  const s = await subscriber('/**');
  const p = await subscriber('/**');
  const n = nonce();
  const ack = await p.publish('/service/x', { n });
  assert.equal(ack.successful, true, JSON.stringify(ack));
  assert.ok(!('data' in ack));
  await p.publish(`${root}/end`, { end: n });
  for (const c of [s, p]) {
    const got = await c.collectUntil((m) => m.channel === `${root}/end` && m.data?.end === n);
    assert.ok(!got.some((m) => m.channel === '/service/x'), `service message delivered: ${JSON.stringify(got.filter((m) => m.channel === '/service/x'))}`);
  }
  await s.disconnect();
  await p.disconnect();
});

test('B31 publishing to /meta/foo (403), a wildcard (405) or without data (402) fails', async () => {
  const c = await publisher();
  const meta = await c.publish('/meta/foo', { x: 1 });
  assert.equal(meta.successful, false);
  assert.match(meta.error || '', /^403/);
  assert.equal(meta.error, '403:denied_by_security_policy:publish_denied');
  for (const wild of ['/a/*', '/a/**']) {
    const r = await c.publish(wild, { x: 1 });
    assert.equal(r.successful, false, `${wild}: ${JSON.stringify(r)}`);
    assert.match(r.error || '', /^405/);
    assert.equal(r.error, '405::channel_invalid');
  }
  const { reply: nodata } = await c.call({ channel: uniqChannel() });
  assert.equal(nodata.successful, false);
  assert.equal(nodata.error, '402:data:Missing required parameter');
  await c.disconnect();
});

test('B32 a publish without clientId or with an unknown one fails with 402 and is not delivered', async () => {
  const root = uniqChannel();
  const s = await subscriber(`${root}/a`, `${root}/end`);
  const anon = new HttpClient(server);
  const n = nonce();
  const res1 = await anon.post([{ channel: `${root}/a`, data: { n }, id: '1' }]);
  const r1 = HttpClient.reply(res1, '1', `${root}/a`);
  assert.equal(r1.successful, false);
  assert.match(r1.error || '', /^402/);
  const res2 = await anon.post([{ channel: `${root}/a`, data: { n }, id: '2', clientId: unknownClientId() }]);
  const r2 = HttpClient.reply(res2, '2', `${root}/a`);
  assert.equal(r2.successful, false);
  assert.match(r2.error || '', /^402/);
  const p = await publisher();
  await p.publish(`${root}/end`, { end: n });
  const got = await s.collectUntil((m) => m.channel === `${root}/end`);
  assert.ok(!got.some((m) => m.data?.n === n), `unauthenticated publish delivered: ${JSON.stringify(got)}`);
  await s.disconnect();
  await p.disconnect();
});

test('B33 every message with an id gets a reply; never an empty array; WebSocket replies are prompt', async (t) => {
  const batchFor = (clientId, root, ids) => [
    { channel: '/meta/subscribe', subscription: `${root}/a`, clientId, id: ids[0] },
    { channel: `${root}/a`, data: { x: 1 }, clientId, id: ids[1] },
    { channel: '/meta/unsubscribe', subscription: `${root}/a`, clientId, id: ids[2] },
    { channel: '/service/x', data: { x: 2 }, clientId, id: ids[3] },
    { channel: '/meta/foo', data: { x: 3 }, clientId, id: ids[4] },
    { channel: `${root}/b`, clientId, id: ids[5] },
    { channel: '/meta/subscribe', clientId, id: ids[6] },
    { channel: `${root}/*`, data: 1, clientId, id: ids[7] },
    { channel: '/meta/unsubscribe', subscription: '/meta/foo', clientId, id: ids[8] },
  ];
  await t.test('HTTP', async () => {
    const c = await new HttpClient(server).open();
    const ids = Array.from({ length: 9 }, (_, i) => `h${i}`);
    const res = await c.post(batchFor(c.clientId, uniqChannel(), ids));
    assert.equal(res.status, 200);
    for (const id of ids) {
      assert.ok(res.json.some((m) => m.id === id && 'successful' in m), `no reply to ${id}: ${res.text}`);
    }
    await c.disconnect();
    for (const r of c.responses) {
      if (Array.isArray(r.json)) assert.ok(r.json.length > 0, 'an HTTP response was an empty array');
    }
  });
  await t.test('WebSocket, one frame', async () => {
    const ws = await WsClient.open(server);
    try {
      await ws.open();
      const ids = Array.from({ length: 9 }, (_, i) => `w${i}`);
      ws.send(batchFor(ws.clientId, uniqChannel(), ids));
      for (const id of ids) await ws.waitReply(id, undefined, { timeoutMs: 5000 });
    } finally { ws.close(); }
  });
  await t.test('WebSocket, non-connect messages answered while a connect is held', async () => {
    const ws = await WsClient.open(server);
    try {
      await ws.open();
      const held = ws.connect();
      const root = uniqChannel();
      const r = await ws.request({ channel: '/meta/subscribe', subscription: `${root}/a` }, { timeoutMs: 5000 });
      assert.equal(r.reply.successful, true);
      assert.ok(r.ms < 2000, `subscribe reply took ${r.ms} ms while a connect was held`);
      // Same frame as a connect (Encke decision §4.4: non-connect messages are answered at once).
      const cid = ws.nextId();
      const sid = ws.nextId();
      const t0 = Date.now();
      ws.send([{ channel: '/meta/connect', clientId: ws.clientId, connectionType: 'websocket', id: cid },
        { channel: '/meta/subscribe', subscription: `${root}/b`, clientId: ws.clientId, id: sid }]);
      const sr = await ws.waitReply(sid, '/meta/subscribe', { timeoutMs: 9000 });
      assert.equal(sr.msg.successful, true);
      assert.ok(sr.at - t0 < 2000, `subscribe batched with a connect answered after ${sr.at - t0} ms`);
      void held;
    } finally { ws.close(); }
  });
});
