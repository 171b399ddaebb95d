// HTTP/1.1 as RFC 9110/9112 ask of a server, on raw sockets: message framing (HEAD, Transfer-Encoding,
// pipelining, stray empty lines), Host, the absolute form, Expect and HTTP/1.0, timeouts between
// requests, and the origin allow-list applied to JSONP (a <script> load sends no Origin).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { startServer, stopClean } from './lib/server.mjs';
import { RawHttpConn, rawExchange, parseHttpResponse, pollUntil, sleep } from './lib/http.mjs';
import { handshakeMessage } from './lib/bayeux.mjs';

const GOOD = 'https://app.example';

async function raw(server, text, opts) {
  return rawExchange(server.port, Buffer.from(text, 'latin1'), { timeoutMs: 5000, ...opts });
}

// Every complete response in `buf`, in order (HEAD responses flagged by the caller).
function responses(buf, heads = []) {
  const out = [];
  let rest = buf;
  for (let i = 0; rest.length; i++) {
    const r = parseHttpResponse(rest, { atEof: true, headRequest: !!heads[i] });
    if (!r) break;
    out.push(r);
    rest = rest.subarray(r.length);
  }
  return { out, rest };
}

const jsonp = (id) => `/cometd?jsonp=cb&message=${encodeURIComponent(JSON.stringify([handshakeMessage(id)]))}`;

describe('HTTP conformance', () => {
  let server;
  before(async () => { server = await startServer({ config: { server: { header_timeout_ms: 1500, idle_timeout_ms: 20000 } } }); });
  after(async () => { await stopClean(server); });

  test('HEAD gets the headers of GET and no content, so the next response on the connection parses', async () => {
    const c = await RawHttpConn.open(server.port);
    try {
      for (const path of ['/healthz', '/no-such-file', '/cometd']) {
        const h = await c.request({ method: 'HEAD', path });
        assert.ok(Number(h.headers['content-length']) > 0, `${path}: HEAD states the length (${h.status})`);
        const g = await c.request({ method: 'GET', path: '/healthz' });
        assert.equal(g.status, 200, `${path}: the response after HEAD parses as a new one`);
        assert.equal(g.json.status, 'ok');
      }
    } finally { c.close(); }
  });

  test('Transfer-Encoding whose last coding is not chunked: 400 and close; no smuggled request is served', async () => {
    for (const te of ['xchunked', 'chunked, identity', 'identity']) {
      const r = await raw(server, `POST /cometd HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${te}\r\nContent-Type: application/json\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`);
      const { out } = responses(r.raw);
      assert.equal(out[0]?.status, 400, `${te}: ${r.text.slice(0, 120)}`);
      assert.equal(out.length, 1, `${te}: a second response was sent: ${r.text}`);
      assert.ok(r.closed);
    }
  });

  test('a coding other than chunked (gzip, chunked): 501 and close', async () => {
    const r = await raw(server, 'POST /cometd HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    assert.equal(r.response?.status, 501, r.text.slice(0, 120));
    assert.ok(r.closed);
  });

  test('"Transfer-Encoding: Chunked" (any case) is chunked', async () => {
    const body = JSON.stringify([handshakeMessage('te')]);
    const r = await raw(server, `POST /cometd HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: Chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`);
    assert.equal(r.response?.status, 200, r.text.slice(0, 200));
    assert.equal(JSON.parse(r.response.body)[0].successful, true);
  });

  test('Host: missing on HTTP/1.1 or given twice gets 400; HTTP/1.0 may omit it', async () => {
    const none = await raw(server, 'GET /healthz HTTP/1.1\r\n\r\n');
    assert.equal(none.response?.status, 400);
    const two = await raw(server, 'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');
    assert.equal(two.response?.status, 400);
    const old = await raw(server, 'GET /healthz HTTP/1.0\r\n\r\n');
    assert.equal(old.response?.status, 200);
  });

  test('a request target in absolute form is served by its path', async () => {
    const r = await raw(server, `GET http://127.0.0.1:${server.port}/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    assert.equal(r.response?.status, 200, r.text.slice(0, 120));
    const p = await raw(server, `POST http://x/cometd HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${JSON.stringify([handshakeMessage('a')]).length}\r\n\r\n${JSON.stringify([handshakeMessage('a')])}`);
    assert.equal(p.response?.status, 200, p.text.slice(0, 120));
  });

  test('empty lines before a request line are ignored (a CRLF after a POST body)', async () => {
    const body = JSON.stringify([handshakeMessage('crlf')]);
    const r = await raw(server, `\r\nPOST /cometd HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const { out } = responses(r.raw);
    assert.deepEqual(out.map((x) => x.status), [200, 200], r.text.slice(0, 300));
  });

  test('a malformed request gets 400 and the connection closes; bytes after it are not served', async () => {
    for (const bad of [
      'POST /cometd HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n',  // no CRLF after the chunk's data: bad chunk
      'POST /cometd HTTP/1.1\r\nHost: a\r\n\n',                                                     // a bare LF inside the header
    ]) {
      const r = await raw(server, `${bad}GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n`);
      const { out } = responses(r.raw);
      assert.deepEqual(out.map((x) => x.status), [400], `${JSON.stringify(bad)}: ${r.text.slice(0, 300)}`);
      assert.ok(r.closed);
    }
  });

  test('every response has a Date (RFC 9110 §6.6.1)', async () => {
    const c = await RawHttpConn.open(server.port);
    try {
      const h = await c.request({ path: '/healthz' });
      assert.match(h.headers.date ?? '', /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
      assert.ok(Math.abs(Date.parse(h.headers.date) - Date.now()) < 5000);
    } finally { c.close(); }
  });

  test('HTTP/1.0: no 100 Continue, and a kept-alive connection says so', async () => {
    const body = JSON.stringify([handshakeMessage('h10')]);
    const r = await raw(server, `POST /cometd HTTP/1.0\r\nConnection: keep-alive\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, { timeoutMs: 1500 });
    assert.match(r.text, /^HTTP\/1\.1 200 /, r.text.slice(0, 120));
    assert.doesNotMatch(r.text, /100 Continue/);
    assert.equal(r.response.headers.connection, 'keep-alive');
  });

  test('between requests a connection may idle; once a request starts its header must come within header_timeout_ms', async () => {
    const c = await RawHttpConn.open(server.port);
    try {
      assert.equal((await c.request({ path: '/healthz' })).status, 200);
      await sleep(2500);  // idle longer than header_timeout_ms (1500): still open
      assert.equal(c.closed, false, 'an idle kept-alive connection was closed before idle_timeout_ms');
      const t0 = Date.now();
      c.sock.write('GET /healthz HTTP/1.1\r\n');
      const drip = setInterval(() => { if (!c.closed) c.sock.write('X-A: b\r\n'); }, 300);
      try {
        await pollUntil(() => c.closed, { timeoutMs: 8000, what: 'the dribbling connection to be closed' });
      } finally { clearInterval(drip); }
      const took = Date.now() - t0;
      assert.ok(took < 4000, `closed after ${took} ms (header_timeout_ms 1500, idle_timeout_ms 20000)`);
    } finally { c.close(); }
  });

  test('blank lines do not keep a connection open past header_timeout_ms', async () => {
    const c = await RawHttpConn.open(server.port);
    try {
      const t0 = Date.now();
      const drip = setInterval(() => { if (!c.closed) c.sock.write('\r\n'); }, 300);
      try {
        await pollUntil(() => c.closed, { timeoutMs: 8000, what: 'the connection sending only blank lines to be closed' });
      } finally { clearInterval(drip); }
      assert.ok(Date.now() - t0 < 4000, `closed after ${Date.now() - t0} ms (header_timeout_ms 1500)`);
    } finally { c.close(); }
  });

  test('a 20 KB request pipelined behind a held connect is answered after it', async () => {
    const c = await RawHttpConn.open(server.port);
    try {
      const hs = await c.request({ method: 'POST', path: '/cometd', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify([handshakeMessage('p')]) });
      const cookie = /BAYEUX_BROWSER=[^;]+/.exec(hs.headers['set-cookie'] ?? '')?.[0];
      const clientId = hs.json[0].clientId;
      const connect = (id, extra = {}) => JSON.stringify([{ channel: '/meta/connect', clientId, connectionType: 'long-polling', id, ...extra }]);
      const h = { 'Content-Type': 'application/json', ...(cookie ? { Cookie: cookie } : {}) };
      assert.equal((await c.request({ method: 'POST', path: '/cometd', headers: h, body: connect('c1') })).json.at(-1).successful, true);
      // The next connect is held; a publish with a 20 KB payload follows on the same socket.
      const held = connect('c2', { advice: { timeout: 1500 } });
      const big = JSON.stringify([{ channel: '/pipe/big', clientId, id: 'pub', data: { pad: 'x'.repeat(20000) } }]);
      const req = (b) => `POST /cometd HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${cookie ? `Cookie: ${cookie}\r\n` : ''}Content-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`;
      c.sock.write(req(held));
      await sleep(200);
      c.sock.write(req(big));
      const r1 = await c.readResponse({ timeoutMs: 8000 });
      const r2 = await c.readResponse({ timeoutMs: 8000 });
      assert.equal(r1.json.find((m) => m.channel === '/meta/connect')?.id, 'c2');
      assert.equal(r2.json.find((m) => m.id === 'pub')?.successful, true);
    } finally { c.close(); }
  });

  test('an empty batch (Faye sends one before a large message) gets 200 and []', async () => {
    const c = await RawHttpConn.open(server.port);
    try {
      const r = await c.request({ method: 'POST', path: '/cometd', headers: { 'Content-Type': 'application/json' }, body: '[]' });
      assert.equal(r.status, 200);
      assert.equal(r.text, '[]');
      const j = await c.request({ path: '/cometd?jsonp=cb&message=%5B%5D' });
      assert.equal(j.status, 200);
      assert.equal(j.text, '/**/cb([]);');
    } finally { c.close(); }
  });

  test('a JSONP callback must start the way a JavaScript name does', async () => {
    for (const [cb, status] of [['1a', 400], ['-a', 400], ['.a', 400], ['$a.b_c-1', 200], ['_x', 200]]) {
      const r = await raw(server, `GET ${jsonp('cb').replace('jsonp=cb', `jsonp=${cb}`)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(r.response?.status, status, `callback ${cb}: ${r.text.slice(0, 160)}`);
    }
  });
});

describe('HTTP: idle connections after a held long-poll', () => {
  let server;
  before(async () => { server = await startServer({ config: { server: { idle_timeout_ms: 2000 }, bayeux: { timeout_ms: 1000 } } }); });
  after(async () => { await stopClean(server); });

  test('a client quiet after its held connect was answered is closed after idle_timeout_ms', async () => {
    const c = await RawHttpConn.open(server.port);
    try {
      const post = (body) => c.request({ method: 'POST', path: '/cometd', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      const hs = await post([handshakeMessage('i')]);
      const clientId = hs.json[0].clientId;
      await post([{ channel: '/meta/connect', clientId, connectionType: 'long-polling', id: 'c1' }]);
      const t0 = Date.now();
      const held = await post([{ channel: '/meta/connect', clientId, connectionType: 'long-polling', id: 'c2' }]);
      assert.ok(Date.now() - t0 >= 800, 'the connect was held');
      assert.equal(held.json.at(-1).id, 'c2');
      const t1 = Date.now();
      await pollUntil(() => c.closed, { timeoutMs: 6000, what: 'the quiet connection to be closed' });
      assert.ok(Date.now() - t1 < 4500, `closed ${Date.now() - t1} ms after the answer (idle_timeout_ms 2000)`);
    } finally { c.close(); }
  });
});

describe('HTTP: the API key scheme', () => {
  let server;
  before(async () => { server = await startServer({ config: { api: { keys: ['k-1234567890abcdef'] } } }); });
  after(async () => { await stopClean(server); });

  test('"Authorization: BEARER <key>" is the Bearer scheme (RFC 9110 §11.1)', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const body = JSON.stringify({ channel: '/api/x', data: 1 });
      const r = await raw(server, `POST /api/publish HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: ${scheme} k-1234567890abcdef\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      assert.equal(r.response?.status, 200, `${scheme}: ${r.text.slice(0, 200)}`);
    }
  });
});

describe('HTTP: allowed_origins and callback-polling', () => {
  let server;
  before(async () => { server = await startServer({ config: { cors: { allowed_origins: [GOOD] } } }); });
  after(async () => { await stopClean(server); });

  const get = (headers) => raw(server, `GET ${jsonp('j')} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nConnection: close\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);

  test('a <script> load from another site is refused (403), with or without a Referer', async () => {
    for (const h of [
      { 'Sec-Fetch-Site': 'cross-site', Referer: 'https://evil.example/page' },
      { 'Sec-Fetch-Site': 'cross-site' },
      { Referer: 'https://evil.example/' },
      {},
    ]) {
      const r = await get(h);
      assert.equal(r.response?.status, 403, `${JSON.stringify(h)}: ${r.text.slice(0, 200)}`);
      assert.doesNotMatch(r.text, /clientId/);
    }
  });

  test('a page on an allowed origin, or on Encke itself, may use it', async () => {
    for (const h of [
      { 'Sec-Fetch-Site': 'same-site', Referer: `${GOOD}/app` },
      { 'Sec-Fetch-Site': 'same-origin' },
      { Referer: `${GOOD}/` },
      { Referer: `http://127.0.0.1:${server.port}/index.html` },
    ]) {
      const r = await get(h);
      assert.equal(r.response?.status, 200, `${JSON.stringify(h)}: ${r.text.slice(0, 200)}`);
      assert.match(r.text, /^[\s\S]*\/\*\*\/cb\(\[/);
    }
  });

  test('a preflight from an origin not in the list gets 403', async () => {
    const r = await raw(server, `OPTIONS /cometd HTTP/1.1\r\nHost: x\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: POST\r\n\r\n`);
    assert.equal(r.response?.status, 403);
    const ok = await raw(server, `OPTIONS /cometd HTTP/1.1\r\nHost: x\r\nConnection: close\r\nOrigin: ${GOOD}\r\nAccess-Control-Request-Method: POST\r\n\r\n`);
    assert.equal(ok.response?.status, 200);
    assert.equal(ok.response.headers['access-control-allow-origin'], GOOD);
  });

  test('a 413 carries the CORS headers, so the page can read it', async () => {
    const r = await raw(server, `POST /cometd HTTP/1.1\r\nHost: x\r\nOrigin: ${GOOD}\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n\r\n[`);
    assert.equal(r.response?.status, 413);
    assert.equal(r.response.headers['access-control-allow-origin'], GOOD);
  });
});

describe('WebSocket upgrade', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await stopClean(server); });

  test('two Sec-WebSocket-Key headers get 400 (RFC 6455 §11.3.1)', async () => {
    const r = await raw(server, 'GET /cometd HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    assert.equal(r.response?.status, 400, r.text.slice(0, 120));
  });
});
