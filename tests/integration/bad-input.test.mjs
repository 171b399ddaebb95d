// Hostile and malformed input. Every case is followed by a normal client's complete round trip,
// and the server must still be running at the end.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { startServer, stopClean } from './lib/server.mjs';
import { HttpClient, WsClient, uniqChannel, nonce, assertRoundTrip, assertWsRoundTrip, handshakeMessage } from './lib/bayeux.mjs';
import { rawExchange, RawHttpConn, httpRequest, pollUntil, tryJson } from './lib/http.mjs';

const MAX_BODY = 65536;
const MAX_BATCH = 10;
const MAX_DEPTH = 16;
const HEADER_TIMEOUT_MS = 1000;
const BODY_TIMEOUT_MS = 1000;
const MAX_HEADER_BYTES = 4096;
const WS_MAX_MESSAGE = 65536;
// A socket cut off by a deadline must be gone by deadline + this (timer granularity, ASan).
const CUTOFF_SLACK_MS = 2500;

let server;
before(async () => {
  server = await startServer({
    config: {
      server: {
        max_body_bytes: MAX_BODY, header_timeout_ms: HEADER_TIMEOUT_MS, body_timeout_ms: BODY_TIMEOUT_MS,
        max_header_bytes: MAX_HEADER_BYTES,
      },
      bayeux: { max_messages_per_batch: MAX_BATCH, max_json_depth: MAX_DEPTH },
      websocket: { max_message_bytes: WS_MAX_MESSAGE },
    },
  });
});
after(async () => {
  const alive = server?.alive();
  await stopClean(server);
  assert.ok(alive, `the server died during the bad-input tests: ${server?.stderr().slice(-3000)}`);
});

function assertAlive() {
  assert.ok(server.alive(), `server is not running any more; stderr: ${server.stderr().slice(-3000)}`);
}

async function post(body, { contentType = 'application/json', path = '/cometd' } = {}) {
  return httpRequest({ port: server.port, method: 'POST', path, headers: { 'Content-Type': contentType }, body });
}

function assert400Json(res, label) {
  assert.equal(res.status, 400, `${label}: HTTP ${res.status} ${res.text.slice(0, 300)}`);
  const j = tryJson(res.text);
  assert.notEqual(j, undefined, `${label}: 400 body is not JSON: ${res.text.slice(0, 300)}`);
  if (Array.isArray(j)) {
    assert.ok(j.length >= 1 && j.every((m) => m.successful === false), `${label}: 400 body: ${res.text.slice(0, 300)}`);
  }
}

describe('HTTP bodies', () => {
  test('malformed JSON gets HTTP 400 with a JSON body', async () => {
    const bodies = ['[{"channel":"/meta/handshake",', '{"channel":}', '[{}]]', '[{"channel":"/meta/handshake"} x', '[', 'nul', '["\\x"]', '[{"a":1,}]'];
    for (const body of bodies) assert400Json(await post(body), `body ${JSON.stringify(body)}`);
    assertAlive();
    await assertRoundTrip(server);
  });

  test('invalid UTF-8 gets HTTP 400', async () => {
    const pre = Buffer.from('[{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"id":"1","ext":{"x":"');
    const post_ = Buffer.from('"}}]');
    const cases = {
      'invalid byte 0xff': Buffer.from([0xff, 0xfe]),
      'overlong encoding': Buffer.from([0xc0, 0xaf]),
      'UTF-8 encoded surrogate': Buffer.from([0xed, 0xa0, 0x80]),
      'truncated sequence': Buffer.from([0xe2, 0x82]),
    };
    for (const [label, bad] of Object.entries(cases)) {
      assert400Json(await post(Buffer.concat([pre, bad, post_])), label);
    }
    assertAlive();
    await assertRoundTrip(server);
  });

  test('JSON nested deeper than max_json_depth gets HTTP 400; shallow nesting is fine', async () => {
    const c = await new HttpClient(server).open();
    const ch = uniqChannel();
    const deepArrays = '['.repeat(40) + ']'.repeat(40);
    const deepObjects = '{"a":'.repeat(40) + '1' + '}'.repeat(40);
    for (const [label, data] of [['arrays', deepArrays], ['objects', deepObjects]]) {
      const body = `[{"channel":"${ch}","clientId":"${c.clientId}","id":"1","data":${data}}]`;
      assert400Json(await post(body), `40 nested ${label}`);
    }
    // A stack-exhaustion attempt that still fits under max_body_bytes.
    assert400Json(await post('['.repeat(MAX_BODY - 10)), 'unterminated deep nesting');
    assert400Json(await post(`[${'{"a":['.repeat(5000)}`), 'unterminated object/array nesting');
    const ok = await c.publish(ch, { a: { b: [[{ c: 1 }]] } });
    assert.equal(ok.successful, true, `shallow nesting refused: ${JSON.stringify(ok)}`);
    await c.disconnect();
    assertAlive();
    await assertRoundTrip(server);
  });

  test('a body over max_body_bytes gets HTTP 413', async (t) => {
    const c = await new HttpClient(server).open();
    const big = JSON.stringify([{ channel: uniqChannel(), clientId: c.clientId, id: '1', data: 'x'.repeat(MAX_BODY + 5000) }]);
    await t.test('Content-Length body', async () => {
      const r = await rawExchange(server.port,
        `POST /cometd HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(big)}\r\nConnection: close\r\n\r\n${big}`);
      assert.equal(r.response?.status, 413, `got ${r.text.slice(0, 200)} (${r.error?.message || 'no error'})`);
    });
    await t.test('announced length far over the limit is refused without waiting for the body', async () => {
      const r = await rawExchange(server.port,
        'POST /cometd HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n[', { timeoutMs: 5000 });
      assert.equal(r.response?.status, 413, `got ${r.text.slice(0, 200)}`);
      assert.ok(r.ms < 2000, `413 took ${r.ms} ms`);
    });
    await t.test('chunked body', async () => {
      const chunks = [];
      for (let i = 0; i < big.length; i += 8192) {
        const part = big.slice(i, i + 8192);
        chunks.push(`${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`);
      }
      const r = await rawExchange(server.port,
        `POST /cometd HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunks.join('')}0\r\n\r\n`);
      assert.equal(r.response?.status, 413, `got ${r.text.slice(0, 200)} (${r.error?.message || 'no error'})`);
    });
    await c.disconnect();
    assertAlive();
    await assertRoundTrip(server);
  });

  test('a header block over max_header_bytes gets HTTP 431', async () => {
    const r = await rawExchange(server.port,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(MAX_HEADER_BYTES + 2000)}\r\nConnection: close\r\n\r\n`);
    assert.equal(r.response?.status, 431, `got ${r.text.slice(0, 200)} (${r.error?.message || 'no error'})`);
    assertAlive();
    await assertRoundTrip(server);
  });

  test('a batch over max_messages_per_batch is refused message by message; one at the limit passes', async () => {
    const root = uniqChannel();
    const s = new HttpClient(server);
    await s.handshake();
    await s.subscribe(`${root}/a`);
    await s.subscribe(`${root}/end`);
    await s.connect({ advice: { timeout: 0 } });
    const p = await new HttpClient(server).open();
    const n = nonce();
    const batch = (count, tag) => Array.from({ length: count }, (_, i) => ({ channel: `${root}/a`, data: { n, tag, i }, clientId: p.clientId, id: `${tag}${i}` }));

    const over = await p.post(batch(MAX_BATCH + 1, 'o'));
    assert.ok(over.status === 200 || over.status === 400, `HTTP ${over.status}`);
    assert.ok(Array.isArray(over.json) && over.json.length >= 1, `not a JSON array: ${over.text.slice(0, 300)}`);
    assert.ok(over.json.every((m) => m.successful === false), `an over-limit batch was (partly) accepted: ${over.text.slice(0, 500)}`);

    const at = await p.post(batch(MAX_BATCH, 'k'));
    assert.equal(at.status, 200);
    for (let i = 0; i < MAX_BATCH; i++) assert.equal(HttpClient.reply(at, `k${i}`).successful, true);

    await p.publish(`${root}/end`, { end: n });
    const got = await s.collectUntil((m) => m.channel === `${root}/end`);
    assert.equal(got.filter((m) => m.data?.tag === 'o').length, 0, 'messages of the refused batch were delivered');
    assert.equal(got.filter((m) => m.data?.tag === 'k').length, MAX_BATCH);
    await s.disconnect();
    await p.disconnect();
    assertAlive();
    await assertRoundTrip(server);
  });

  test('invalid channel names get 405::channel_invalid', async () => {
    const c = await new HttpClient(server).open();
    for (const bad of ['foo', 'a/b', '/', '/a<b>', '/a\\b', '/a|b', '/a"b', '/a\u0000b', '/a\nb']) {
      const r = await c.publish(bad, { x: 1 });
      assert.equal(r.successful, false, `publish to ${JSON.stringify(bad)}: ${JSON.stringify(r)}`);
      assert.equal(r.error, '405::channel_invalid', `publish to ${JSON.stringify(bad)}`);
      const s = await c.subscribe(bad);
      assert.equal(s.successful, false, `subscribe to ${JSON.stringify(bad)}: ${JSON.stringify(s)}`);
      assert.match(s.error || '', /^40[35]/, `subscribe to ${JSON.stringify(bad)}`);
    }
    // Missing, empty or non-string channel: refused, never a crash.
    for (const msg of [{ data: 1 }, { channel: '', data: 1 }, { channel: 42, data: 1 }, { channel: null, data: 1 }, { channel: ['/a'], data: 1 }]) {
      const res = await c.post([{ ...msg, clientId: c.clientId, id: 'x1' }]);
      assert.ok(res.status === 200 || res.status === 400, `HTTP ${res.status} for ${JSON.stringify(msg)}`);
      assert.ok(Array.isArray(res.json) && res.json.length >= 1 && res.json.every((m) => m.successful === false),
        `${JSON.stringify(msg)} → ${res.text.slice(0, 300)}`);
    }
    await c.disconnect();
    assertAlive();
    await assertRoundTrip(server);
  });

  test('odd but valid JSON batches (non-objects, empty array, bare object) never crash the server', async () => {
    for (const body of ['[1]', '["x"]', '[null]', '[[]]', '[]', '{}', '"str"', '42', 'null', '[{"channel":"/meta/connect"}]', '[{"channel":"/meta/subscribe","subscription":{}}]']) {
      const res = await post(body);
      assert.ok([200, 400].includes(res.status), `${body}: HTTP ${res.status}`);
      assert.notEqual(tryJson(res.text), undefined, `${body}: body is not JSON: ${res.text.slice(0, 200)}`);
    }
    assertAlive();
    await assertRoundTrip(server);
  });
});

describe('slow clients', () => {
  function trickleUntilClosed(prefix, { every = 200, byte = 'X-Slow: 1\r\n', timeoutMs = 8000 } = {}) {
    return new Promise((resolve) => {
      const t0 = Date.now();
      const sock = net.connect({ port: server.port, host: '127.0.0.1' });
      const chunks = [];
      let timer = null;
      let guard = null;
      const finish = (closed) => {
        clearInterval(timer);
        clearTimeout(guard);
        sock.destroy();
        resolve({ closed, ms: Date.now() - t0, text: Buffer.concat(chunks).toString('latin1') });
      };
      sock.on('data', (c) => chunks.push(c));
      sock.on('error', () => { /* close follows */ });
      sock.on('close', () => finish(true));
      sock.on('connect', () => {
        if (prefix) sock.write(prefix);
        if (byte) timer = setInterval(() => sock.write(byte, () => {}), every);
      });
      guard = setTimeout(() => finish(false), timeoutMs);
    });
  }

  function assertCutOff(r, deadline, label) {
    assert.ok(r.closed, `${label}: socket still open after ${r.ms} ms (deadline ${deadline} ms)`);
    assert.ok(r.ms < deadline + CUTOFF_SLACK_MS, `${label}: cut off after ${r.ms} ms (deadline ${deadline} ms)`);
    assert.ok(!/^HTTP\/1\.[01] 2\d\d/.test(r.text), `${label}: got a success response: ${r.text.slice(0, 200)}`);
  }

  test('headers trickled slower than header_timeout_ms: cut off while others are served', async () => {
    const slow = trickleUntilClosed('POST /cometd HTTP/1.1\r\nHost: x\r\n');
    await assertRoundTrip(server, { label: 'round trip during a slow-header attack' });
    assertCutOff(await slow, HEADER_TIMEOUT_MS, 'trickled headers');
    assertAlive();
    await assertRoundTrip(server);
  });

  test('a connection that sends nothing is closed after header_timeout_ms', async () => {
    const idle = trickleUntilClosed('', { byte: '' });
    await assertRoundTrip(server);
    assertCutOff(await idle, HEADER_TIMEOUT_MS, 'silent connection');
  });

  test('a body trickled slower than body_timeout_ms: cut off while others are served', async () => {
    const slow = trickleUntilClosed('POST /cometd HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[', { byte: ' ' });
    await assertRoundTrip(server, { label: 'round trip during a slow-body attack' });
    assertCutOff(await slow, BODY_TIMEOUT_MS, 'trickled body');
    assertAlive();
    await assertRoundTrip(server);
  });
});

describe('WebSocket', () => {
  async function expectErrorOrClose(ws, label) {
    const r = await ws.until(() => ws.closeInfo || ws.messages.find((e) => e.msg && e.msg.successful === false), { timeoutMs: 5000, what: `${label}: an error reply or a close` })
      .catch((e) => { if (ws.closeInfo) return ws.closeInfo; throw e; });
    return r;
  }

  test('a non-JSON text frame gets an error reply or a close', async () => {
    const ws = await WsClient.open(server);
    try {
      ws.send('this is not json');
      await expectErrorOrClose(ws, 'non-JSON');
    } finally { ws.close(); }
    assertAlive();
    await assertWsRoundTrip(server);
    await assertRoundTrip(server);
  });

  test('a text frame with invalid UTF-8 gets an error reply or a close', async () => {
    const ws = await WsClient.open(server);
    try {
      ws.ws.send(Buffer.from([0x5b, 0x22, 0xff, 0xfe, 0x22, 0x5d]), { binary: false });
      const r = await expectErrorOrClose(ws, 'invalid UTF-8');
      if (r.code !== undefined) assert.ok([1002, 1007, 1008, 1011].includes(r.code) || r.code === 1006, `close code ${r.code}`);
    } finally { ws.close(); }
    assertAlive();
    await assertWsRoundTrip(server);
  });

  test('a frame nested deeper than max_json_depth gets an error reply or a close', async () => {
    const ws = await WsClient.open(server);
    try {
      ws.send('['.repeat(40) + ']'.repeat(40));
      await expectErrorOrClose(ws, 'deep JSON');
    } finally { ws.close(); }
    const ws2 = await WsClient.open(server);
    try {
      ws2.send('['.repeat(WS_MAX_MESSAGE - 100));
      await expectErrorOrClose(ws2, 'unterminated deep JSON');
    } finally { ws2.close(); }
    assertAlive();
    await assertWsRoundTrip(server);
  });

  test('a batch over max_messages_per_batch in one frame is refused', async () => {
    const ws = await WsClient.open(server);
    try {
      await ws.open();
      const ch = uniqChannel();
      const ids = Array.from({ length: MAX_BATCH + 1 }, (_, i) => `b${i}`);
      ws.send(ids.map((id) => ({ channel: ch, data: 1, clientId: ws.clientId, id })));
      await ws.until(() => ws.closeInfo || ws.messages.some((e) => e.msg?.successful === false), { timeoutMs: 5000, what: 'refusal' }).catch(() => null);
      assert.ok(!ws.messages.some((e) => ids.includes(e.msg?.id) && e.msg.successful === true), 'an over-limit WebSocket batch was accepted');
      assert.ok(ws.closeInfo || ws.messages.some((e) => e.msg?.successful === false), 'no refusal and no close');
    } finally { ws.close(); }
    assertAlive();
    await assertWsRoundTrip(server);
  });

  test('a message over websocket.max_message_bytes closes the socket with 1009', async () => {
    const ws = await WsClient.open(server);
    try {
      await ws.open();
      ws.send(JSON.stringify([{ channel: uniqChannel(), clientId: ws.clientId, id: '1', data: 'x'.repeat(WS_MAX_MESSAGE + 10) }]));
      const info = await ws.waitClose({ timeoutMs: 5000 });
      assert.equal(info.code, 1009, `close code ${info.code} ${info.reason}`);
    } finally { ws.close(); }
    assertAlive();
    await assertWsRoundTrip(server);
  });

  async function rawUpgrade() {
    const key = crypto.randomBytes(16).toString('base64');
    const sock = net.connect({ port: server.port, host: '127.0.0.1' });
    const state = { buf: Buffer.alloc(0), closed: false, sock };
    sock.on('data', (c) => { state.buf = Buffer.concat([state.buf, c]); });
    sock.on('error', () => {});
    state.closedP = new Promise((r) => sock.on('close', () => { state.closed = true; r(); }));
    await new Promise((r, j) => { sock.once('connect', r); sock.once('error', j); });
    sock.write(`GET /cometd HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await pollUntil(() => state.buf.includes('\r\n\r\n') || state.closed, { timeoutMs: 5000, what: 'upgrade response' });
    const head = state.buf.toString('latin1');
    assert.match(head, /^HTTP\/1\.1 101/, `upgrade refused: ${head.slice(0, 200)}`);
    state.buf = state.buf.subarray(state.buf.indexOf('\r\n\r\n') + 4);
    return state;
  }

  const masked = (first, payload) => {
    const mask = crypto.randomBytes(4);
    const p = Buffer.from(payload);
    const out = Buffer.alloc(p.length);
    for (let i = 0; i < p.length; i++) out[i] = p[i] ^ mask[i % 4];
    return Buffer.concat([Buffer.from([first, 0x80 | p.length]), mask, out]);
  };

  const frames = {
    'unmasked client frame': Buffer.concat([Buffer.from([0x81, 0x05]), Buffer.from('[1,2]')]),
    'reserved opcode 0x3': masked(0x83, '[]'),
    'RSV1 set without an extension': masked(0xc1, '[]'),
    'fragmented control frame': masked(0x09, 'ping'),
    '64-bit length of 2^63-1': Buffer.from([0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]),
    'continuation without a start': masked(0x80, '[]'),
  };
  for (const [label, bytes] of Object.entries(frames)) {
    test(`protocol violation (${label}) closes the socket, never crashes`, async () => {
      const st = await rawUpgrade();
      st.sock.write(bytes, () => {});
      await Promise.race([st.closedP, new Promise((r) => setTimeout(r, 5000))]);
      assert.ok(st.closed, `${label}: socket still open 5 s after the violation`);
      st.sock.destroy();
      assertAlive();
      await assertWsRoundTrip(server);
    });
  }
});

describe('max_connections', () => {
  const MAX_CONN = 4;
  let limited;
  before(async () => {
    limited = await startServer({ config: { server: { max_connections: MAX_CONN, header_timeout_ms: 15000 } } });
  });
  after(async () => { await stopClean(limited); });

  test('over max_connections a new socket gets 503 while existing connections keep working', async () => {
    const keep = await RawHttpConn.open(limited.port);
    const idle = [];
    try {
      const h = await keep.request({ path: '/healthz' });
      assert.equal(h.status, 200);
      for (let i = 0; i < MAX_CONN - 1; i++) idle.push(await RawHttpConn.open(limited.port));
      // Let the server accept them all (count visible in /healthz when it reports open sockets).
      await pollUntil(async () => (await keep.request({ path: '/healthz' })).json?.connections >= MAX_CONN, { timeoutMs: 3000, what: 'connections >= max' })
        .catch(() => { /* connections may count something else; the 503 check below decides */ });

      const extra = await RawHttpConn.open(limited.port);
      if (!(await extra.waitForData(1500))) {
        try { extra.sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'); } catch { /* closed */ }
      }
      const refused = await extra.readResponse({ timeoutMs: 5000 });
      assert.equal(refused.status, 503, `over-limit socket got HTTP ${refused.status}`);
      extra.close();

      // The existing keep-alive connection still carries a full Bayeux exchange.
      const hs = await keep.request({ method: 'POST', path: '/cometd', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify([handshakeMessage('1')]) });
      assert.equal(hs.status, 200);
      const clientId = hs.json[0].clientId;
      const ch = uniqChannel();
      const n = nonce();
      const batch = [
        { channel: '/meta/subscribe', subscription: ch, clientId, id: '2' },
        { channel: '/meta/connect', connectionType: 'long-polling', clientId, id: '3', advice: { timeout: 0 } },
      ];
      const r2 = await keep.request({ method: 'POST', path: '/cometd', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(batch) });
      assert.equal(r2.status, 200);
      assert.ok(r2.json.every((m) => m.successful === true), r2.text);
      const r3 = await keep.request({ method: 'POST', path: '/cometd', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify([{ channel: ch, data: { n }, clientId, id: '4' }]) });
      assert.equal(r3.status, 200);
      let seen = r3.json.some((m) => m.channel === ch && m.data?.n === n);
      for (let i = 0; i < 3 && !seen; i++) {
        const rc = await keep.request({ method: 'POST', path: '/cometd', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify([{ channel: '/meta/connect', connectionType: 'long-polling', clientId, id: `c${i}` }]) });
        seen = rc.json.some((m) => m.channel === ch && m.data?.n === n);
      }
      assert.ok(seen, 'the existing connection never received its message');

      // Once a socket goes away, new connections are accepted again.
      idle.shift().close();
      await pollUntil(async () => (await httpRequest({ port: limited.port, path: '/healthz', timeoutMs: 3000 })).status === 200,
        { timeoutMs: 5000, what: 'a new connection to be served after one closed' });
      assert.ok(limited.alive());
    } finally {
      keep.close();
      for (const c of idle) c.close();
    }
  });
});
