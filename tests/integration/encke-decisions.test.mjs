// "Encke decision" rules of PROTOCOL.md that §8 does not list, and the configuration switches
// that change Bayeux behaviour (encke.toml.example).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, MAX_INTERVAL_MS, stopClean } from './lib/server.mjs';
import { HttpClient, WsClient, CookieJar, uniqChannel, nonce, isDelivery, handshakeMessage } from './lib/bayeux.mjs';
import { httpRequest, rawExchange, parseHttpResponse, sleep, tryJson, pollUntil } from './lib/http.mjs';

const PARK_MS = 300;
const PROMPT_MS = 1500;

describe('default configuration', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await stopClean(server); });

  test('Bayeux HTTP responses carry Content-Length, no-cache and nosniff headers (§4.1)', async () => {
    const c = new HttpClient(server);
    const { res } = await c.handshake();
    const check = (r, label) => {
      assert.equal(Number(r.headers['content-length']), r.body.length, `${label}: Content-Length`);
      assert.match(r.headers['cache-control'] || '', /no-cache/i, `${label}: Cache-Control ${r.headers['cache-control']}`);
      assert.match(r.headers['cache-control'] || '', /no-store/i, `${label}: Cache-Control ${r.headers['cache-control']}`);
      assert.equal((r.headers['x-content-type-options'] || '').toLowerCase(), 'nosniff', `${label}: X-Content-Type-Options`);
    };
    check(res, 'handshake');
    check((await c.connect({ advice: { timeout: 0 } })).res, 'connect');
    check(await c.post('[{"channel":', {}), 'malformed JSON (400)');
    await c.disconnect();
  });

  test('no advice on subscribe, unsubscribe, publish replies or on deliveries (§2.7 rule 6)', async () => {
    const ch = uniqChannel();
    const c = await new HttpClient(server).open();
    const sub = await c.subscribe(ch);
    assert.ok(!('advice' in sub), JSON.stringify(sub));
    const pub = await c.publish(ch, { n: 1 });
    assert.ok(!('advice' in pub), JSON.stringify(pub));
    const d = await c.waitFor((m) => m.channel === ch);
    assert.ok(!('advice' in d), JSON.stringify(d));
    const un = await c.unsubscribe(ch);
    assert.ok(!('advice' in un), JSON.stringify(un));
    await c.disconnect();
  });

  test('JSONP: Faye-style headers, U+2028/U+2029 escaped, deliveries only in connect replies (§4.3)', async () => {
    const q = (cb, msgs) => `jsonp=${cb}&message=${encodeURIComponent(JSON.stringify(msgs))}`;
    const get = (path, query) => httpRequest({ port: server.port, path: `${path}?${query}` });
    const unwrap = (res) => {
      const m = /^\/\*\*\/[\w$.]+\((.*)\);\s*$/s.exec(res.text);
      assert.ok(m, `not a JSONP body: ${res.text.slice(0, 200)}`);
      return JSON.parse(m[1]);
    };
    const hsRes = await get('/cometd/handshake', q('cb1', [handshakeMessage('1', { types: ['callback-polling'] })]));
    assert.match(hsRes.headers['content-disposition'] || '', /attachment/i, `Content-Disposition: ${hsRes.headers['content-disposition']}`);
    assert.equal((hsRes.headers['x-content-type-options'] || '').toLowerCase(), 'nosniff');
    const clientId = unwrap(hsRes)[0].clientId;
    const ch = uniqChannel();
    const sub = unwrap(await get('/cometd/', q('cb2', [{ channel: '/meta/subscribe', subscription: ch, clientId, id: '2' }])));
    assert.equal(sub[0].successful, true);
    unwrap(await get('/cometd/connect', q('cb3', [{ channel: '/meta/connect', connectionType: 'callback-polling', clientId, id: '3', advice: { timeout: 0 } }])));

    const p = new HttpClient(server);
    await p.handshake();
    const text = 'line\u2028sep\u2029end';
    await p.publish(ch, { text });
    // A non-connect JSONP request must not carry the queued delivery.
    const other = unwrap(await get('/cometd/', q('cb4', [{ channel: `${ch}/x`, data: 1, clientId, id: '4' }])));
    assert.ok(!other.some(isDelivery), `a JSONP publish reply carried a delivery: ${JSON.stringify(other)}`);
    let raw = null;
    for (let i = 0; i < 3 && !raw; i++) {
      const res = await get('/cometd/connect', q('cb5', [{ channel: '/meta/connect', connectionType: 'callback-polling', clientId, id: `c${i}` }]));
      if (unwrap(res).some((m) => isDelivery(m) && m.channel === ch)) raw = res;
    }
    assert.ok(raw, 'the delivery never arrived in a JSONP connect reply');
    assert.ok(!raw.text.includes('\u2028') && !raw.text.includes('\u2029'), 'U+2028/U+2029 must be escaped in a JSONP body');
    const d = unwrap(raw).find((m) => isDelivery(m) && m.channel === ch);
    assert.equal(d.data.text, text);
    await p.disconnect();
  });

  test('browser cookie: a different cookie is refused, a missing one accepted (§4.2)', async () => {
    const c = await new HttpClient(server).open();
    const own = c.jar.cookies.get('BAYEUX_BROWSER');
    assert.ok(own);
    const noCookie = new HttpClient(server, { cookies: false });
    noCookie.clientId = c.clientId;
    const r1 = await noCookie.connect({ advice: { timeout: 0 } });
    assert.equal(r1.reply.successful, true, `request without the cookie refused: ${JSON.stringify(r1.reply)}`);
    const other = new HttpClient(server, { jar: new CookieJar() });
    other.jar.cookies.set('BAYEUX_BROWSER', own === 'zzzzzzzzzzzzzzzz' ? 'yyyyyyyyyyyyyyyy' : 'zzzzzzzzzzzzzzzz');
    other.clientId = c.clientId;
    const r2 = await other.connect({ advice: { timeout: 0 } });
    assert.equal(r2.reply.successful, false, `request with another browser's cookie accepted: ${JSON.stringify(r2.reply)}`);
    assert.match(r2.reply.error || '', /^402/);
    const r3 = await c.connect({ advice: { timeout: 0 } });
    assert.equal(r3.reply.successful, true, 'the rightful owner was locked out');
    await c.disconnect();
  });

  test('a session created over WebSocket continues over long-polling after the socket closes (§4.4)', async () => {
    const ws = await WsClient.open(server);
    await ws.open();
    ws.ws.close(1000, 'falling back to long-polling');
    await ws.waitClose({ timeoutMs: 5000 });
    const h = new HttpClient(server);
    h.clientId = ws.clientId;
    const ch = uniqChannel();
    assert.equal((await h.subscribe(ch)).successful, true);
    const r = await h.connect({ advice: { timeout: 0 } });
    assert.equal(r.reply.successful, true, JSON.stringify(r.reply));
    const n = nonce();
    await h.publish(ch, { n });
    await h.waitFor((m) => m.channel === ch && m.data?.n === n);
    await h.disconnect();
  });

  test('a client that abandons a held long-poll loses nothing: the next connect carries what came meanwhile', async () => {
    const c = await new HttpClient(server).open();
    const ch = uniqChannel();
    assert.equal((await c.subscribe(ch)).successful, true);
    // Hold a connect on a raw socket, then drop the socket as a closed tab or a proxy would.
    const sock = net.connect(server.port, '127.0.0.1');
    await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    const body = JSON.stringify([c.connectMessage()]);
    sock.write(`POST /cometd/connect HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
      `Cookie: ${c.jar.header()}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await sleep(PARK_MS);
    sock.destroy();
    await sleep(PARK_MS);
    const n = nonce();
    assert.equal((await c.publish(ch, { n })).successful, true);
    const r = await c.connect({ advice: { timeout: 0 } });
    assert.equal(r.reply.successful, true, JSON.stringify(r.reply));
    assert.ok(r.res.json.some((m) => m.channel === ch && m.data?.n === n),
      `the message published after the client left its held connect was lost: ${r.res.text}`);
    await c.disconnect();
  });

  test('a held connect sent with Connection: close is answered, then the socket is closed', async () => {
    // nginx talks HTTP/1.0 with "Connection: close" to upstreams by default.
    const c = await new HttpClient(server).open();
    const ch = uniqChannel();
    assert.equal((await c.subscribe(ch)).successful, true);
    const sock = net.connect(server.port, '127.0.0.1');
    await new Promise((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    const chunks = [];
    sock.on('data', (d) => chunks.push(d));
    const closed = new Promise((resolve) => sock.once('close', resolve));
    const body = JSON.stringify([c.connectMessage()]);
    sock.write(`POST /cometd/connect HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
      `Content-Type: application/json\r\nCookie: ${c.jar.header()}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    await sleep(PARK_MS);
    const n = nonce();
    assert.equal((await c.publish(ch, { n })).successful, true);
    const timer = setTimeout(() => sock.destroy(), 5000);
    await closed;
    clearTimeout(timer);
    const text = Buffer.concat(chunks).toString('utf8');
    assert.match(text, /^HTTP\/1\.1 200 /, text.slice(0, 200));
    assert.ok(text.includes(n), `the held connect did not carry the message: ${text}`);
    await c.disconnect();
  });

  test('a WebSocket session takes the browser cookie of its upgrade: another browser cannot continue it over HTTP', async () => {
    const ws = await WsClient.open(server, { headers: { Cookie: 'BAYEUX_BROWSER=browserone00001' } });
    await ws.open();
    const ch = uniqChannel();
    const stranger = new HttpClient(server);
    stranger.clientId = ws.clientId;
    stranger.jar.cookies.set('BAYEUX_BROWSER', 'browsertwo00002');
    const { reply: refused } = await stranger.call({ channel: '/meta/subscribe', clientId: ws.clientId, subscription: ch, id: stranger.nextId() });
    assert.equal(refused.successful, false, JSON.stringify(refused));
    assert.match(refused.error, /^402/);
    const owner = new HttpClient(server);
    owner.clientId = ws.clientId;
    owner.jar.cookies.set('BAYEUX_BROWSER', 'browserone00001');
    const { reply: ok } = await owner.call({ channel: '/meta/subscribe', clientId: ws.clientId, subscription: ch, id: owner.nextId() });
    assert.equal(ok.successful, true, JSON.stringify(ok));
    ws.ws.close(1000);
  });

  test('a superseding connect of the same session is not flagged multiple-clients (§5.4)', async () => {
    const s = await new HttpClient(server).open();
    const held = s.connect({ allowError: true });
    await sleep(PARK_MS);
    const second = s.connect(); // held in turn, as a reloaded page's connect would be
    const first = await held;
    assert.ok(first.res.status >= 400);
    await sleep(PARK_MS);
    await s.disconnect();
    const r = await second;
    assert.notEqual(r.reply.advice?.['multiple-clients'], true, `superseding connect flagged: ${JSON.stringify(r.reply)}`);
    assert.equal(r.reply.advice?.reconnect, 'none', 'the disconnect must wake the held connect with reconnect:"none"');
  });

  test('a session that never connects after its handshake also expires (§6.3)', async () => {
    const c = new HttpClient(server);
    await c.handshake();
    await sleep(MAX_INTERVAL_MS + 2500);
    const r = await c.connect({ advice: { timeout: 0 } });
    assert.equal(r.reply.successful, false, 'session without any connect never expired');
    assert.match(r.reply.error || '', /^402/);
  });

  test('ack extension: deliveries travel only in connect replies (§3.7)', async () => {
    const ch = uniqChannel();
    const c = new HttpClient(server);
    await c.handshake({ ext: { ack: true } });
    await c.subscribe(ch);
    const c1 = await c.connect({ advice: { timeout: 0 }, ext: { ack: 0 } });
    const n = nonce();
    const ack = await c.call({ channel: ch, data: { n } });
    assert.ok(!ack.res.json.some(isDelivery), `a publish reply of an ack session carried a delivery: ${ack.res.text}`);
    const c2 = await c.connect({ ext: { ack: c1.reply.ext.ack } });
    assert.ok(c2.res.json.some((m) => isDelivery(m) && m.data?.n === n), c2.res.text);
    await c.disconnect();
  });

  test('timesync extension: meta replies carry ext.timesync {tc, ts, p, a} (§5.3)', async () => {
    const tc = Date.now() - 5;
    const c = new HttpClient(server);
    const { reply } = await c.handshake({ ext: { timesync: { tc, l: 0, o: 0 } } });
    const ts = reply.ext?.timesync;
    assert.ok(ts, `no ext.timesync in the handshake reply: ${JSON.stringify(reply)}`);
    assert.equal(ts.tc, tc);
    assert.equal(typeof ts.ts, 'number');
    assert.ok(Math.abs(ts.ts - Date.now()) < 5000, `ts ${ts.ts} is not the server time`);
    assert.equal(typeof ts.p, 'number');
    assert.ok(ts.p >= 0);
    assert.equal(typeof ts.a, 'number');
    await c.connect({ advice: { timeout: 0 } }); // the first connect is never held
    const r = await c.connect({ ext: { timesync: { tc: Date.now(), l: 0, o: 0 } }, advice: { timeout: 300 } });
    assert.ok(r.reply.ext?.timesync, `no ext.timesync on the connect reply: ${JSON.stringify(r.reply)}`);
    assert.ok(r.reply.ext.timesync.p >= 200, `p must include the hold time: ${JSON.stringify(r.reply.ext.timesync)}`);
    await c.disconnect();
  });

  test('HTTP keep-alive with pipelined requests and Expect: 100-continue', async () => {
    const hs = JSON.stringify([handshakeMessage('1')]);
    const req = (body) => `POST /cometd/handshake HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const r = await rawExchange(server.port, [req(hs) + req(hs) + 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], { timeoutMs: 5000 });
    let buf = r.raw;
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      const p = parseHttpResponse(buf, { atEof: i === 2 });
      assert.ok(p, `pipelined response ${i + 1} missing: ${r.text.slice(0, 500)}`);
      statuses.push(p.status);
      if (i < 2) assert.equal(tryJson(p.body.toString())?.[0]?.successful, true);
      buf = buf.subarray(p.length);
    }
    assert.deepEqual(statuses, [200, 200, 200]);

    // Expect: 100-continue (curl sends it for bodies over 1 KiB).
    const sock = net.connect({ port: server.port, host: '127.0.0.1' });
    let got = Buffer.alloc(0);
    sock.on('data', (d) => { got = Buffer.concat([got, d]); });
    sock.on('error', () => {});
    await new Promise((res) => sock.once('connect', res));
    const body = JSON.stringify([handshakeMessage('1', { extra: { pad: 'x'.repeat(2000) } })]);
    sock.write(`POST /cometd HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`);
    await pollUntil(() => got.length > 0, { timeoutMs: 1500 }).catch(() => null);
    if (got.length) assert.match(got.toString('latin1'), /^HTTP\/1\.1 100/, `before the body: ${got.toString('latin1').slice(0, 100)}`);
    sock.write(body);
    const finalResponse = () => {
      let b = got;
      for (;;) {
        const r1 = parseHttpResponse(b);
        if (!r1) return null;
        if (r1.status !== 100) return r1;
        b = b.subarray(r1.length);
      }
    };
    const fin = await pollUntil(finalResponse, { timeoutMs: 5000, what: 'the final response' });
    sock.destroy();
    assert.equal(fin.status, 200);
    assert.equal(tryJson(fin.body.toString())?.[0]?.successful, true);
  });
});

describe('configuration switches', () => {
  let server;
  const GOOD_ORIGIN = 'https://good.example';
  before(async () => {
    server = await startServer({
      config: {
        bayeux: { broadcast_to_publisher: false, strip_ext_keys: ['secret'], duplicate_connect_status: 409, require_browser_cookie: true },
        cors: { allowed_origins: [GOOD_ORIGIN] },
      },
    });
  });
  after(async () => { await stopClean(server); });

  test('broadcast_to_publisher = false: the publisher does not get its own message, others do', async () => {
    const ch = uniqChannel();
    const pubSub = await new HttpClient(server).open();
    await pubSub.subscribe(ch);
    const other = await new HttpClient(server).open();
    await other.subscribe(ch);
    const n = nonce();
    await pubSub.publish(ch, { n });
    await other.waitFor((m) => m.data?.n === n);
    const p2 = await new HttpClient(server).open();
    await p2.publish(ch, { end: n });
    const got = await pubSub.collectUntil((m) => m.data?.end === n);
    assert.ok(!got.some((m) => m.data?.n === n), 'the publisher received its own message');
    for (const c of [pubSub, other, p2]) await c.disconnect();
  });

  test('strip_ext_keys removes the listed ext keys from deliveries only', async () => {
    const ch = uniqChannel();
    const s = await new HttpClient(server).open();
    await s.subscribe(ch);
    const p = await new HttpClient(server).open();
    const n = nonce();
    await p.publish(ch, { n }, { ext: { secret: 'token', keep: 1 } });
    const d = await s.waitFor((m) => m.data?.n === n);
    assert.deepEqual(d.ext, { keep: 1 });
    await s.disconnect();
    await p.disconnect();
  });

  test('duplicate_connect_status sets the status of a superseded connect', async () => {
    const s = await new HttpClient(server).open();
    const held = s.connect({ allowError: true });
    await sleep(PARK_MS);
    await s.connect({ advice: { timeout: 0 } });
    const first = await held;
    assert.equal(first.res.status, 409, `superseded connect: HTTP ${first.res.status}`);
    await s.disconnect();
  });

  test('require_browser_cookie = true: a request without the cookie is refused', async () => {
    const c = await new HttpClient(server).open();
    const bare = new HttpClient(server, { cookies: false });
    bare.clientId = c.clientId;
    const r = await bare.connect({ advice: { timeout: 0 } });
    assert.equal(r.reply.successful, false, `accepted without the cookie: ${JSON.stringify(r.reply)}`);
    assert.match(r.reply.error || '', /^402/);
    assert.equal((await c.connect({ advice: { timeout: 0 } })).reply.successful, true);
    await c.disconnect();
  });

  test('allowed_origins: a listed origin gets CORS headers, another does not, and its WebSocket is refused', async () => {
    const c = new HttpClient(server);
    const good = await c.post([handshakeMessage('1')], { headers: { Origin: GOOD_ORIGIN } });
    assert.equal(good.headers['access-control-allow-origin'], GOOD_ORIGIN);
    const evil = await c.post([handshakeMessage('2')], { headers: { Origin: 'https://evil.example' } });
    assert.notEqual(evil.headers['access-control-allow-origin'], 'https://evil.example');
    assert.notEqual(evil.headers['access-control-allow-origin'], '*');
    const pre = await httpRequest({ port: server.port, method: 'OPTIONS', path: '/cometd', headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' } });
    assert.notEqual(pre.headers['access-control-allow-origin'], 'https://evil.example');
    assert.equal(pre.status, 403, 'a preflight from an origin not in the list');
    await assert.rejects(WsClient.open(server, { headers: { Origin: 'https://evil.example' } }), /refused|Unexpected server response|403/i,
      'a WebSocket upgrade from a foreign origin was accepted');
    const ok = await WsClient.open(server, { headers: { Origin: GOOD_ORIGIN } });
    ok.close();
  });
});
