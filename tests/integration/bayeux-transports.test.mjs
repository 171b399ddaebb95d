// PROTOCOL.md §8 behaviours 34-40: request encodings, paths, JSONP, CORS, WebSocket, ack extension.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, TIMEOUT_MS, stopClean } from './lib/server.mjs';
import { HttpClient, WsClient, uniqChannel, nonce, isDelivery, handshakeMessage } from './lib/bayeux.mjs';
import { httpRequest, sleep, tryJson } from './lib/http.mjs';

const PARK_MS = 300;
const PROMPT_MS = 1500;

let server;
before(async () => { server = await startServer(); });
after(async () => { await stopClean(server); });

function assertJsonArrayResponse(res, label) {
  assert.equal(res.status, 200, `${label}: HTTP ${res.status} ${res.text}`);
  assert.match(res.headers['content-type'] || '', /^application\/json/i, `${label}: content-type ${res.headers['content-type']}`);
  assert.ok(Array.isArray(res.json) && res.json.length > 0, `${label}: not a non-empty JSON array: ${res.text}`);
}

test('B34 long-polling accepts JSON, text/plain and form-encoded bodies', async (t) => {
  const hsJson = () => JSON.stringify([handshakeMessage('1')]);
  const form = (json) => new URLSearchParams({ message: json }).toString();
  const cases = [
    ['application/json', hsJson()],
    ['application/json;charset=UTF-8', hsJson()],
    ['application/json; charset=utf-8', hsJson()],
    ['text/plain;charset=UTF-8', form(hsJson())],
    ['application/x-www-form-urlencoded', form(hsJson())],
    ['application/x-www-form-urlencoded; charset=UTF-8', form(hsJson())],
    ['text/plain;charset=UTF-8', hsJson()], // JSON under text/plain (first byte '[')
  ];
  for (const [ct, body] of cases) {
    await t.test(`${ct}, ${body.startsWith('message=') ? 'message=' : 'JSON'} body`, async () => {
      const c = new HttpClient(server);
      const res = await c.post(body, { contentType: ct });
      assertJsonArrayResponse(res, ct);
      const r = HttpClient.reply(res, '1', '/meta/handshake');
      assert.equal(r.successful, true, JSON.stringify(r));
      c.clientId = r.clientId;
      await c.disconnect();
    });
  }
  await t.test('form body with several message values (one object, one array), + for spaces', async () => {
    const ch = uniqChannel();
    const c = await new HttpClient(server).open();
    const params = new URLSearchParams();
    params.append('message', JSON.stringify({ channel: '/meta/subscribe', subscription: ch, clientId: c.clientId, id: 's1' }));
    params.append('message', JSON.stringify([{ channel: ch, data: { text: 'a b+c' }, clientId: c.clientId, id: 'p1' }]));
    const res = await c.post(params.toString(), { contentType: 'application/x-www-form-urlencoded' });
    assertJsonArrayResponse(res, 'multi-valued form');
    assert.equal(HttpClient.reply(res, 's1', '/meta/subscribe').successful, true);
    assert.equal(HttpClient.reply(res, 'p1', ch).successful, true);
    const d = await c.waitFor((m) => m.channel === ch);
    assert.deepEqual(d.data, { text: 'a b+c' });
    await c.disconnect();
  });
});

test('B35 every path below the mount is the same endpoint; malformed JSON gets HTTP 400', async () => {
  const paths = ['/cometd', '/cometd/', '/cometd/handshake', '/cometd/connect', '/cometd/disconnect', '/cometd/some/deeper/path'];
  for (const path of paths) {
    const c = new HttpClient(server, { path });
    const { reply } = await c.handshake({ path });
    assert.equal(reply.successful, true, `${path}: ${JSON.stringify(reply)}`);
    const ch = uniqChannel();
    const sub = await c.call({ channel: '/meta/subscribe', subscription: ch }, { path });
    assert.equal(sub.reply.successful, true, `subscribe on ${path}`);
    const conn = await c.connect({ path, advice: { timeout: 0 } });
    assert.equal(conn.reply.successful, true, `connect on ${path}`);
    const pub = await c.call({ channel: ch, data: { path } }, { path });
    assert.equal(pub.reply.successful, true, `publish on ${path}`);
    const dis = await c.call({ channel: '/meta/disconnect' }, { path });
    assert.equal(dis.reply.successful, true, `disconnect on ${path}`);
    const bad = await c.post('[{"channel":"/meta/handshake",', { path });
    assert.equal(bad.status, 400, `malformed JSON on ${path}: HTTP ${bad.status} ${bad.text}`);
  }
});

test('B36 JSONP: callback-polling GET answers with the callback, default jsonpcallback, bad names 400', async (t) => {
  const jsonpGet = (path, query) => httpRequest({ port: server.port, path: `${path}?${query}` });
  const q = (obj) => Object.entries(obj).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  const parse = (res, cb) => {
    assert.equal(res.status, 200, `HTTP ${res.status}: ${res.text}`);
    const ct = (res.headers['content-type'] || '').toLowerCase().replace(/\s+/g, '');
    assert.equal(ct, 'text/javascript;charset=utf-8', `content-type ${res.headers['content-type']}`);
    const esc = cb.replace(/[.$]/g, (c) => `\\${c}`);
    const m = new RegExp(`^/\\*\\*/${esc}\\((.*)\\);\\s*$`, 's').exec(res.text);
    assert.ok(m, `body does not call ${cb}: ${res.text.slice(0, 300)}`);
    const arr = tryJson(m[1]);
    assert.ok(Array.isArray(arr), `callback argument is not a JSON array: ${m[1].slice(0, 300)}`);
    return arr;
  };
  const hs = parse(await jsonpGet('/cometd/handshake', q({ jsonp: '_cometd_jsonp_1', message: JSON.stringify([handshakeMessage('1', { types: ['callback-polling'] })]) })), '_cometd_jsonp_1');
  const hsr = hs.find((m) => m.channel === '/meta/handshake');
  assert.equal(hsr?.successful, true, JSON.stringify(hs));
  const clientId = hsr.clientId;
  const ch = uniqChannel();

  await t.test('connect with jsonp=_cometd_jsonp_3', async () => {
    const arr = parse(await jsonpGet('/cometd/connect', q({ jsonp: '_cometd_jsonp_3', message: JSON.stringify([{ channel: '/meta/connect', connectionType: 'callback-polling', clientId, id: '2', advice: { timeout: 0 } }]) })), '_cometd_jsonp_3');
    const r = arr.find((m) => m.channel === '/meta/connect');
    assert.equal(r?.successful, true, JSON.stringify(arr));
    assert.equal(r.id, '2');
  });
  await t.test('without jsonp the callback is jsonpcallback', async () => {
    const arr = parse(await jsonpGet('/cometd/', q({ message: JSON.stringify([{ channel: '/meta/subscribe', subscription: ch, clientId, id: '3' }]) })), 'jsonpcallback');
    assert.equal(arr.find((m) => m.id === '3')?.successful, true, JSON.stringify(arr));
  });
  await t.test('a delivery arrives in a JSONP connect reply', async () => {
    const p = new HttpClient(server);
    await p.handshake();
    const n = nonce();
    await p.publish(ch, { n });
    let found = null;
    for (let i = 0; i < 3 && !found; i++) {
      const arr = parse(await jsonpGet('/cometd/connect', q({ jsonp: '__jsonp4__', message: JSON.stringify([{ channel: '/meta/connect', connectionType: 'callback-polling', clientId, id: `c${i}` }]) })), '__jsonp4__');
      found = arr.find((m) => isDelivery(m) && m.data?.n === n);
    }
    assert.ok(found, 'the published message never arrived over callback-polling');
    await p.disconnect();
  });
  await t.test('invalid callback names get HTTP 400', async () => {
    const msg = JSON.stringify([{ channel: '/meta/connect', connectionType: 'callback-polling', clientId, id: '9', advice: { timeout: 0 } }]);
    for (const bad of ['alert(1)', 'a;b', 'x y', 'a"b', '<script>', 'x'.repeat(65)]) {
      const res = await jsonpGet('/cometd/connect', q({ jsonp: bad, message: msg }));
      assert.equal(res.status, 400, `callback ${JSON.stringify(bad)}: HTTP ${res.status} ${res.text.slice(0, 200)}`);
      assert.ok(!res.text.includes(bad), `the bad callback name is reflected in the body: ${res.text.slice(0, 200)}`);
    }
  });
});

test('B37 CORS: origin echoed with credentials; pre-flight allows POST, GET and the needed headers', async (t) => {
  const origin = 'https://app.example';
  const lowerList = (v) => (v || '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  await t.test('actual POST', async () => {
    const c = new HttpClient(server);
    const res = await c.post([handshakeMessage('1')], { headers: { Origin: origin } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], origin);
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.ok(lowerList(res.headers.vary).includes('origin'), `Vary: ${res.headers.vary}`);
    c.clientId = HttpClient.reply(res, '1', '/meta/handshake').clientId;
    await c.disconnect();
  });
  for (const path of ['/cometd', '/cometd/handshake', '/cometd/connect']) {
    await t.test(`pre-flight ${path}`, async () => {
      const res = await httpRequest({
        port: server.port, method: 'OPTIONS', path,
        headers: { Origin: origin, 'Access-Control-Request-Method': 'POST' },
      });
      assert.equal(res.status, 200, `OPTIONS ${path}: HTTP ${res.status}`);
      assert.equal(res.headers['access-control-allow-origin'], origin);
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      const methods = lowerList(res.headers['access-control-allow-methods']);
      for (const m of ['post', 'get']) assert.ok(methods.includes(m), `Allow-Methods: ${res.headers['access-control-allow-methods']}`);
      const allowed = lowerList(res.headers['access-control-allow-headers']);
      for (const h of ['content-type', 'pragma', 'x-requested-with', 'authorization']) {
        assert.ok(allowed.includes(h), `Allow-Headers lacks ${h}: ${res.headers['access-control-allow-headers']}`);
      }
    });
  }
  await t.test('pre-flight echoes requested custom headers', async () => {
    const res = await httpRequest({
      port: server.port, method: 'OPTIONS', path: '/cometd/handshake',
      headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type, x-custom-header' },
    });
    assert.equal(res.status, 200);
    const allowed = lowerList(res.headers['access-control-allow-headers']);
    assert.ok(allowed.includes('x-custom-header'), `Allow-Headers: ${res.headers['access-control-allow-headers']}`);
    assert.ok(allowed.includes('content-type'));
  });
});

test('B38 WebSocket without subprotocol: handshake as first frame; an HTTP session continues on a new socket', async () => {
  const ws = await WsClient.open(server);
  try {
    assert.equal(ws.ws.protocol, '', 'no subprotocol must be negotiated');
    const { reply, frame } = await ws.handshake();
    assert.ok(Array.isArray(frame.json), `handshake reply frame is not a JSON array: ${frame.text}`);
    assert.equal(reply.successful, true);
    assert.ok(reply.supportedConnectionTypes.includes('websocket'));
  } finally { ws.close(); }

  const h = new HttpClient(server);
  await h.handshake();
  const ws2 = await WsClient.open(server);
  try {
    ws2.clientId = h.clientId;
    const c = await ws2.connect({ advice: { timeout: 0 } }).reply;
    assert.equal(c.reply.successful, true, `connect of an HTTP session over a new socket: ${JSON.stringify(c.reply)}`);
    const ch = uniqChannel();
    assert.equal((await ws2.subscribe(ch)).successful, true);
    ws2.connect();
    await sleep(PARK_MS);
    const p = new HttpClient(server);
    await p.handshake();
    const n = nonce();
    await p.publish(ch, { n });
    await ws2.waitDelivery((m) => m.channel === ch && m.data?.n === n, { timeoutMs: 5000 });
    await p.disconnect();
  } finally { ws2.close(); }
  await h.disconnect();
});

test('B39 WebSocket: a delivery is pushed in its own frame while the connect stays held until timeout', async () => {
  const ch = uniqChannel();
  const ws = await WsClient.open(server);
  try {
    await ws.open();
    assert.equal((await ws.subscribe(ch)).successful, true);
    const held = ws.connect();
    await sleep(PARK_MS);
    const p = new HttpClient(server);
    await p.handshake();
    const n = nonce();
    const tPub = Date.now();
    assert.equal((await p.publish(ch, { n })).successful, true);
    const d = await ws.waitDelivery((m) => m.channel === ch && m.data?.n === n, { timeoutMs: 5000 });
    assert.ok(d.at - tPub < PROMPT_MS, `delivery pushed ${d.at - tPub} ms after the publish`);
    assert.ok(!d.frame.msgs.some((m) => m.channel === '/meta/connect'), `the delivery frame also carries a connect reply: ${d.frame.text}`);
    assert.ok(!ws.messages.some((e) => e.msg.id === held.id), 'the connect was answered with the delivery');
    const c = await held.reply;
    assert.equal(c.reply.id, held.id);
    assert.equal(c.reply.successful, true);
    assert.ok(Math.abs(c.ms - TIMEOUT_MS) <= 1000, `connect held ${c.ms} ms, timeout ${TIMEOUT_MS} ms`);
    await p.disconnect();
  } finally { ws.close(); }
});

test('B40 ack extension: integer ext.ack on connect replies, unacknowledged messages re-sent, then never again', async () => {
  const ch = uniqChannel();
  const c = new HttpClient(server);
  const { reply: hs } = await c.handshake({ ext: { ack: true } });
  const ackOn = hs.ext?.ack === true || hs.ext?.ack?.enabled === true;
  assert.ok(ackOn, `handshake reply does not confirm ack: ${JSON.stringify(hs.ext)}`);
  assert.equal((await c.subscribe(ch)).successful, true);
  const msgsOf = (r) => r.res.json.filter((m) => isDelivery(m) && m.channel === ch).map((m) => m.data.n);
  const ackOf = (r) => {
    assert.ok(Number.isInteger(r.reply.ext?.ack), `connect reply without integer ext.ack: ${JSON.stringify(r.reply)}`);
    return r.reply.ext.ack;
  };

  const c1 = await c.connect({ advice: { timeout: 0 }, ext: { ack: 0 } });
  assert.equal(c1.reply.successful, true);
  const a1 = ackOf(c1);

  const p = new HttpClient(server);
  await p.handshake();
  await p.publish(ch, { n: 'm1' });
  const c2 = await c.connect({ ext: { ack: a1 } });
  assert.equal(c2.reply.successful, true);
  assert.deepEqual(msgsOf(c2), ['m1'], `connect 2: ${c2.res.text}`);
  const a2 = ackOf(c2);
  assert.notEqual(a2, a1);

  // The response to connect 2 is "lost": the client repeats the older ack value.
  const c3 = await c.connect({ ext: { ack: a1 } });
  assert.equal(c3.reply.successful, true);
  assert.ok(c3.ms < PROMPT_MS, `connect with an old ack value was held ${c3.ms} ms`);
  assert.deepEqual(msgsOf(c3), ['m1'], `unacknowledged m1 not re-sent: ${c3.res.text}`);
  const a3 = ackOf(c3);

  await p.publish(ch, { n: 'm2' });
  const c4 = await c.connect({ ext: { ack: a3 } });
  assert.deepEqual(msgsOf(c4), ['m2'], `after acknowledging m1: ${c4.res.text}`);
  const a4 = ackOf(c4);
  const c5 = await c.connect({ ext: { ack: a4 }, advice: { timeout: 300 } });
  assert.equal(c5.reply.successful, true);
  assert.deepEqual(msgsOf(c5), [], `acknowledged messages sent again: ${c5.res.text}`);
  ackOf(c5);
  await c.disconnect();
  await p.disconnect();
});
