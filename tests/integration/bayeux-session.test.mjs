// PROTOCOL.md §8 behaviours 1-18: handshake, connect holding, session lifetime.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, TIMEOUT_MS, MAX_INTERVAL_MS, stopClean } from './lib/server.mjs';
import { HttpClient, WsClient, CookieJar, uniqChannel, nonce, unknownClientId, isDelivery } from './lib/bayeux.mjs';
import { sleep } from './lib/http.mjs';

// Time given to a just-sent request to reach the server and be parked. Polling cannot observe a
// parked connect from outside, so this one short pause is deliberate.
const PARK_MS = 300;
// "Answered at once" bound: far below the 4 s hold, generous for an ASan build.
const PROMPT_MS = 1500;

let server;
before(async () => { server = await startServer(); });
after(async () => { await stopClean(server); });

const withDoneAt = (p) => p.then((r) => ({ ...r, doneAt: Date.now() }));

test('B01 handshake reply carries clientId, version, connection types and retry advice', async () => {
  const c = new HttpClient(server);
  const res = await c.post([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: '1' }]);
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'] || '', /^application\/json/i);
  assert.ok(Array.isArray(res.json), `body is not a JSON array: ${res.text}`);
  const r = HttpClient.reply(res, '1', '/meta/handshake');
  assert.equal(r.successful, true);
  assert.equal(r.id, '1');
  assert.equal(typeof r.clientId, 'string');
  assert.ok(r.clientId.length > 0);
  assert.equal(r.version, '1.0');
  assert.ok(Array.isArray(r.supportedConnectionTypes), 'supportedConnectionTypes must be an array');
  for (const t of ['long-polling', 'callback-polling', 'websocket']) {
    assert.ok(r.supportedConnectionTypes.includes(t), `supportedConnectionTypes lacks ${t}: ${JSON.stringify(r.supportedConnectionTypes)}`);
  }
  assert.equal(typeof r.advice, 'object');
  assert.equal(r.advice.reconnect, 'retry');
  assert.equal(typeof r.advice.interval, 'number');
  assert.equal(typeof r.advice.timeout, 'number');
  assert.equal(r.advice.timeout, TIMEOUT_MS, 'advice.timeout must be the configured bayeux.timeout_ms');
  assert.equal(r.advice.maxInterval, MAX_INTERVAL_MS, 'advice.maxInterval must be the configured bayeux.max_interval_ms');
  c.clientId = r.clientId;
  await c.disconnect();
});

test('B02 handshakes yield distinct 26-character base-36 clientIds', async () => {
  const ids = await Promise.all(Array.from({ length: 12 }, async () => {
    const c = new HttpClient(server);
    const { reply } = await c.handshake();
    await c.disconnect();
    return reply.clientId;
  }));
  for (const id of ids) assert.match(id, /^[0-9a-z]{26}$/, `clientId ${JSON.stringify(id)}`);
  assert.equal(new Set(ids).size, ids.length, `duplicate clientIds: ${ids.join(' ')}`);
});

test('B03 handshake with no common connection type fails with 301 and no clientId', async () => {
  const c = new HttpClient(server);
  const res = await c.post([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['flash'], id: '1' }]);
  assert.equal(res.status, 200);
  const r = HttpClient.reply(res, '1', '/meta/handshake');
  assert.equal(r.successful, false);
  assert.ok(!('clientId' in r), `failed handshake carries a clientId: ${JSON.stringify(r)}`);
  assert.equal(typeof r.error, 'string');
  assert.match(r.error, /^301:/);
  assert.equal(r.error, '301:flash:Connection types not supported');
  // Encke decision (§2.1): retrying cannot help, so the advice is "none".
  assert.equal(r.advice?.reconnect, 'none', `advice: ${JSON.stringify(r.advice)}`);
});

test('B04 no successful handshake or connect reply advises reconnect:"handshake"', async () => {
  const replies = [];
  const ch = uniqChannel();
  // HTTP: handshake, first connect, timeout:0 connect, short-hold connect, delivery-woken connect.
  const s = new HttpClient(server);
  replies.push((await s.handshake()).reply);
  await s.subscribe(ch);
  replies.push((await s.connect()).reply);
  replies.push((await s.connect({ advice: { timeout: 0 } })).reply);
  replies.push((await s.connect({ advice: { timeout: 300 } })).reply);
  const held = s.connect();
  await sleep(PARK_MS);
  const p = new HttpClient(server);
  await p.handshake();
  await p.publish(ch, { n: 1 });
  replies.push((await held).reply);
  // WebSocket: handshake, first connect, short-hold connect.
  const ws = await WsClient.open(server);
  try {
    replies.push((await ws.handshake()).reply);
    replies.push((await ws.connect().reply).reply);
    replies.push((await ws.connect({ advice: { timeout: 300 } }).reply).reply);
  } finally {
    ws.close();
  }
  for (const r of replies) {
    assert.equal(r.successful, true, `expected a successful reply: ${JSON.stringify(r)}`);
    assert.notEqual(r.advice?.reconnect, 'handshake', `successful reply advises handshake: ${JSON.stringify(r)}`);
  }
  await s.disconnect();
  await p.disconnect();
});

test('B05 HTTP handshake sets BAYEUX_BROWSER once; a handshake carrying it gets no new value', async () => {
  const jar = new CookieJar();
  const a = new HttpClient(server, { jar });
  const { res } = await a.handshake();
  const setCookies = [].concat(res.headers['set-cookie'] || []);
  const line = setCookies.find((l) => /^BAYEUX_BROWSER=/.test(l));
  assert.ok(line, `no BAYEUX_BROWSER cookie set: ${JSON.stringify(setCookies)}`);
  assert.match(line, /^BAYEUX_BROWSER=[^;\s]+/);
  assert.match(line, /;\s*Path=\/\s*(;|$)/i, `cookie without Path=/: ${line}`);
  assert.match(line, /;\s*HttpOnly\s*(;|$)/i, `cookie without HttpOnly: ${line}`);
  const value = jar.cookies.get('BAYEUX_BROWSER');
  assert.ok(value);

  const b = new HttpClient(server, { jar }); // same browser: sends the cookie
  const { res: res2 } = await b.handshake();
  const again = [].concat(res2.headers['set-cookie'] || []).find((l) => /^BAYEUX_BROWSER=/.test(l));
  if (again) assert.equal(again.split(';')[0], `BAYEUX_BROWSER=${value}`, 'a handshake with the cookie got a new value');
  assert.equal(jar.cookies.get('BAYEUX_BROWSER'), value);
  await a.disconnect();
  await b.disconnect();
});

test('B06 subscribe and publish before the first /meta/connect succeed', async () => {
  const ch = uniqChannel();
  const c = new HttpClient(server);
  await c.handshake();
  const sub = await c.subscribe(ch);
  assert.equal(sub.successful, true, JSON.stringify(sub));
  const pub = await c.publish(ch, { hello: 'early' });
  assert.equal(pub.successful, true, JSON.stringify(pub));
  // The session is still usable and the message reaches it (it subscribed).
  const d = await c.waitFor((m) => m.channel === ch);
  assert.deepEqual(d.data, { hello: 'early' });
  await c.disconnect();
});

test('B07 the first /meta/connect after a handshake is not held, with or without timeout:0', async () => {
  const a = new HttpClient(server);
  await a.handshake();
  const ca = await a.connect();
  assert.equal(ca.reply.successful, true);
  assert.ok(ca.ms < PROMPT_MS, `first connect without advice took ${ca.ms} ms (hold is ${TIMEOUT_MS} ms)`);

  const b = new HttpClient(server);
  await b.handshake();
  const cb = await b.connect({ advice: { timeout: 0 } });
  assert.equal(cb.reply.successful, true);
  assert.ok(cb.ms < PROMPT_MS, `first connect with timeout:0 took ${cb.ms} ms`);
  await a.disconnect();
  await b.disconnect();
});

test('B08 a later connect honours client advice: timeout:0 at once, timeout:2000 held about 2 s', async () => {
  const c = await new HttpClient(server).open();
  const c0 = await c.connect({ advice: { timeout: 0 } });
  assert.equal(c0.reply.successful, true);
  assert.ok(c0.ms < PROMPT_MS, `timeout:0 connect took ${c0.ms} ms`);
  const c2 = await c.connect({ advice: { timeout: 2000 } });
  assert.equal(c2.reply.successful, true);
  assert.ok(c2.ms >= 1500 && c2.ms < 3300, `timeout:2000 connect took ${c2.ms} ms (server timeout ${TIMEOUT_MS} ms)`);
  await c.disconnect();
});

test('B09 a later connect with nothing to deliver is held for the advertised timeout', async () => {
  const c = new HttpClient(server);
  const { reply: hs } = await c.handshake();
  await c.connect();
  const r = await c.connect();
  assert.equal(r.reply.successful, true);
  assert.equal(r.reply.id, r.id);
  assert.ok(Math.abs(r.ms - hs.advice.timeout) <= 1000, `held ${r.ms} ms, advertised timeout ${hs.advice.timeout} ms`);
  // Encke decision (§2.7 rule 2): every connect reply carries the complete advice.
  assert.equal(r.reply.advice?.reconnect, 'retry', `connect reply advice: ${JSON.stringify(r.reply.advice)}`);
  assert.equal(typeof r.reply.advice?.interval, 'number');
  assert.equal(r.reply.advice?.timeout, TIMEOUT_MS);
  await c.disconnect();
});

test('B10 a connect sharing its HTTP request with other messages is not held', async () => {
  const ch = uniqChannel();
  const c = await new HttpClient(server).open();
  const sid = c.nextId();
  const conn1 = c.connectMessage();
  const t0 = Date.now();
  const res = await c.post([{ channel: '/meta/subscribe', subscription: ch, clientId: c.clientId, id: sid }, conn1]);
  const ms1 = Date.now() - t0;
  assert.equal(res.status, 200);
  assert.equal(HttpClient.reply(res, sid, '/meta/subscribe').successful, true);
  assert.equal(HttpClient.reply(res, conn1.id, '/meta/connect').successful, true);
  assert.ok(ms1 < PROMPT_MS, `subscribe+connect batch took ${ms1} ms`);

  const conn2 = c.connectMessage();
  const pid = c.nextId();
  const t1 = Date.now();
  const res2 = await c.post([conn2, { channel: `${ch}/x`, data: 1, clientId: c.clientId, id: pid }]);
  const ms2 = Date.now() - t1;
  assert.equal(res2.status, 200);
  assert.equal(HttpClient.reply(res2, conn2.id, '/meta/connect').successful, true);
  assert.equal(HttpClient.reply(res2, pid, `${ch}/x`).successful, true);
  assert.ok(ms2 < PROMPT_MS, `connect+publish batch took ${ms2} ms`);
  await c.disconnect();
});

test('B11 a publish completes a held HTTP connect at once, with the delivery and the connect reply', async () => {
  const ch = uniqChannel();
  const s = new HttpClient(server);
  await s.handshake();
  await s.subscribe(ch);
  await s.connect({ advice: { timeout: 0 } });
  const p = new HttpClient(server);
  await p.handshake();

  const t0 = Date.now();
  const held = withDoneAt(s.connect());
  await sleep(PARK_MS);
  const n = nonce();
  const tPub = Date.now();
  const ack = await p.publish(ch, { n });
  assert.equal(ack.successful, true);
  const r = await held;
  assert.ok(r.doneAt - t0 >= PARK_MS - 50, 'the connect was answered before the publish: it was not held');
  assert.ok(r.doneAt - tPub < PROMPT_MS, `connect completed ${r.doneAt - tPub} ms after the publish`);
  assert.equal(r.reply.successful, true);
  const d = r.res.json.find((m) => isDelivery(m) && m.channel === ch);
  assert.ok(d, `held connect response lacks the delivery: ${r.res.text}`);
  assert.deepEqual(d.data, { n });
  await s.disconnect();
  await p.disconnect();
});

test('B12 a connect returns immediately with messages already queued', async () => {
  const ch = uniqChannel();
  const s = new HttpClient(server);
  await s.handshake();
  await s.subscribe(ch);
  await s.connect({ advice: { timeout: 0 } });
  const p = new HttpClient(server);
  await p.handshake();
  const n = nonce();
  assert.equal((await p.publish(ch, { n })).successful, true);
  const r = await s.connect();
  assert.equal(r.reply.successful, true);
  assert.ok(r.ms < PROMPT_MS, `connect with a queued message took ${r.ms} ms`);
  const d = r.res.json.find((m) => isDelivery(m) && m.channel === ch);
  assert.ok(d, `connect response lacks the queued message: ${r.res.text}`);
  assert.deepEqual(d.data, { n });
  await s.disconnect();
  await p.disconnect();
});

test('B13 a connect for an unknown clientId gets 402::session_unknown and handshake advice', async (t) => {
  const check = (r) => {
    assert.equal(r.successful, false);
    assert.match(r.error || '', /^402/);
    assert.equal(r.error, '402::session_unknown');
    assert.equal(r.advice?.reconnect, 'handshake', `advice: ${JSON.stringify(r.advice)}`);
    assert.equal(r.advice?.interval, 0, `advice: ${JSON.stringify(r.advice)}`);
  };
  await t.test('HTTP, well-formed unknown id', async () => {
    const c = new HttpClient(server);
    c.clientId = unknownClientId();
    const r = await c.connect({ advice: { timeout: 0 } });
    assert.equal(r.res.status, 200);
    check(r.reply);
  });
  await t.test('HTTP, malformed id', async () => {
    const c = new HttpClient(server);
    c.clientId = 'no-such-client!';
    const r = await c.connect();
    assert.equal(r.res.status, 200);
    check(r.reply);
  });
  await t.test('HTTP, connect without advice is answered at once', async () => {
    const c = new HttpClient(server);
    c.clientId = unknownClientId();
    const r = await c.connect();
    assert.equal(r.res.status, 200);
    assert.ok(r.ms < PROMPT_MS, `unknown-session connect took ${r.ms} ms`);
    check(r.reply);
  });
  await t.test('WebSocket', async () => {
    const ws = await WsClient.open(server);
    try {
      const r = await ws.connect({ clientId: unknownClientId() }).reply;
      check(r.reply);
    } finally { ws.close(); }
  });
});

test('B14 every reply echoes the request id verbatim, including held connects', async () => {
  const ch = uniqChannel();
  const findReply = (res, channel) => {
    const r = res.json?.find((m) => m.channel === channel && 'successful' in m);
    assert.ok(r, `no ${channel} reply in ${res.text}`);
    return r;
  };
  const s = new HttpClient(server);
  const hsRes = await s.post([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], id: 'hs7A' }]);
  const hs = findReply(hsRes, '/meta/handshake');
  assert.strictEqual(hs.id, 'hs7A');
  s.clientId = hs.clientId;

  const subRes = await s.post([{ channel: '/meta/subscribe', subscription: ch, clientId: s.clientId, id: 17 }]);
  assert.strictEqual(findReply(subRes, '/meta/subscribe').id, 17, 'numeric id must come back as the same number');

  const c1 = await s.post([{ channel: '/meta/connect', connectionType: 'long-polling', clientId: s.clientId, id: 'c1', advice: { timeout: 0 } }]);
  assert.strictEqual(findReply(c1, '/meta/connect').id, 'c1');

  const pubRes = await s.post([{ channel: `${ch}/other`, data: 'x', clientId: s.clientId, id: 'p9' }]);
  assert.strictEqual(findReply(pubRes, `${ch}/other`).id, 'p9');

  // Completed by its (short) timeout.
  const c2 = await s.post([{ channel: '/meta/connect', connectionType: 'long-polling', clientId: s.clientId, id: 'c2', advice: { timeout: 300 } }]);
  assert.strictEqual(findReply(c2, '/meta/connect').id, 'c2');

  // Completed by a delivery.
  const p = new HttpClient(server);
  await p.handshake();
  const heldP = s.post([{ channel: '/meta/connect', connectionType: 'long-polling', clientId: s.clientId, id: 42 }]);
  await sleep(PARK_MS);
  await p.publish(ch, { n: 1 });
  const c3 = await heldP;
  assert.strictEqual(findReply(c3, '/meta/connect').id, 42);
  await s.disconnect();
  await p.disconnect();
});

test('B15 a second connect for a session completes the held one at once with HTTP 500', async () => {
  const s = await new HttpClient(server).open();
  const held = withDoneAt(s.connect({ allowError: true }));
  await sleep(PARK_MS);
  const t1 = Date.now();
  const second = await s.connect({ advice: { timeout: 0 } });
  const first = await held;
  assert.ok(first.res.status >= 400, `superseded connect got HTTP ${first.res.status}: ${first.res.text}`);
  assert.equal(first.res.status, 500, 'duplicate_connect_status defaults to 500');
  assert.ok(first.doneAt - t1 < PROMPT_MS, `superseded connect completed ${first.doneAt - t1} ms after the second`);
  assert.equal(second.res.status, 200);
  assert.equal(second.reply.successful, true);
  assert.equal(second.reply.id, second.id);
  await s.disconnect();
});

test('B16 a second session of the same browser gets multiple-clients advice while one long poll is held', async () => {
  const jar = new CookieJar();
  const a = await new HttpClient(server, { jar }).open();
  const b = await new HttpClient(server, { jar }).open();
  assert.ok(jar.cookies.get('BAYEUX_BROWSER'), 'no browser cookie to share');
  const heldA = a.connect();
  await sleep(PARK_MS);
  const rb = await b.connect();
  assert.ok(rb.ms < PROMPT_MS, `second browser session's connect was held ${rb.ms} ms`);
  assert.equal(rb.reply.successful, true);
  assert.equal(rb.reply.advice?.['multiple-clients'], true, `advice: ${JSON.stringify(rb.reply.advice)}`);
  assert.equal(rb.reply.advice?.reconnect, 'retry');
  assert.equal(rb.reply.advice?.interval, 2000);
  await a.disconnect();
  await heldA;
  await b.disconnect();
});

test('B17 disconnect: successful, wakes the held connect with reconnect:"none", later connects get 402', async () => {
  const s = await new HttpClient(server).open();
  const held = withDoneAt(s.connect());
  await sleep(PARK_MS);
  const t1 = Date.now();
  const d = await s.disconnect();
  assert.equal(d.successful, true, JSON.stringify(d));
  const h = await held;
  assert.ok(h.doneAt - t1 < PROMPT_MS, `held connect completed ${h.doneAt - t1} ms after the disconnect`);
  assert.equal(h.reply.advice?.reconnect, 'none', `held connect reply: ${JSON.stringify(h.reply)}`);
  const after = await s.connect({ advice: { timeout: 0 } });
  assert.equal(after.reply.successful, false);
  assert.match(after.reply.error || '', /^402/);
  assert.equal(after.reply.advice?.reconnect, 'handshake');
  assert.equal(after.reply.advice?.interval, 0);
});

test('B18 a silent session expires after interval + maxInterval; a held one never does', async () => {
  const silent = async () => {
    const a = await new HttpClient(server).open();
    // interval (0) + maxInterval + one sweep period (~1 s) + margin.
    await sleep(MAX_INTERVAL_MS + 2500);
    const r = await a.connect({ advice: { timeout: 0 } });
    assert.equal(r.reply.successful, false, `session still alive after ${MAX_INTERVAL_MS + 2500} ms of silence`);
    assert.match(r.reply.error || '', /^402/);
    assert.equal(r.reply.advice?.reconnect, 'handshake');
  };
  const heldOne = async () => {
    const b = await new HttpClient(server).open();
    const h = await b.connect(); // held TIMEOUT_MS > maxInterval
    assert.equal(h.reply.successful, true);
    assert.ok(h.ms > MAX_INTERVAL_MS, `connect was held only ${h.ms} ms`);
    const r = await b.connect({ advice: { timeout: 0 } });
    assert.equal(r.reply.successful, true, `session with a held connect was removed: ${JSON.stringify(r.reply)}`);
    await b.disconnect();
  };
  await Promise.all([silent(), heldOne()]);
});
