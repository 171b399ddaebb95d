// RFC 6455 framing as Encke writes and reads it (its own framing on the raw socket): fragmented
// messages, frames split across TCP segments or packed several to one, ping/pong, the close
// handshake and the idle ping. Raw sockets, so every byte on the wire is the test's choice.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';

import { startServer, stopClean, TIMEOUT_MS } from './lib/server.mjs';
import { pollUntil } from './lib/http.mjs';
import { uniqChannel, assertWsRoundTrip } from './lib/bayeux.mjs';

const IDLE_MS = TIMEOUT_MS + 1000;  // websocket.idle_timeout_ms must exceed bayeux.timeout_ms

function clientFrame(opcode, payload, { fin = true } = {}) {
  const p = Buffer.from(payload);
  const mask = crypto.randomBytes(4);
  let head;
  if (p.length < 126) head = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | p.length]);
  else if (p.length < 65536) head = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, p.length >> 8, p.length & 0xff]);
  else throw new Error('too long for this helper');
  const body = Buffer.alloc(p.length);
  for (let i = 0; i < p.length; i++) body[i] = p[i] ^ mask[i % 4];
  return Buffer.concat([head, mask, body]);
}

// Server frames from a buffer: [{fin, opcode, payload}], and the bytes left over.
function parseFrames(buf) {
  const out = [];
  let at = 0;
  for (;;) {
    if (buf.length - at < 2) break;
    const b0 = buf[at], b1 = buf[at + 1];
    assert.equal(b1 & 0x80, 0, 'server frames are never masked');
    let len = b1 & 0x7f, hl = 2;
    if (len === 126) { if (buf.length - at < 4) break; len = buf.readUInt16BE(at + 2); hl = 4; }
    else if (len === 127) { if (buf.length - at < 10) break; len = Number(buf.readBigUInt64BE(at + 2)); hl = 10; }
    if (buf.length - at < hl + len) break;
    out.push({ fin: !!(b0 & 0x80), opcode: b0 & 0x0f, payload: buf.subarray(at + hl, at + hl + len) });
    at += hl + len;
  }
  return { frames: out, rest: buf.subarray(at) };
}

// `early`: bytes written in the same write as the upgrade request, before any 101.
async function rawWs(server, { early = Buffer.alloc(0) } = {}) {
  const sock = net.connect({ port: server.port, host: '127.0.0.1' });
  const st = { sock, buf: Buffer.alloc(0), frames: [], closed: false };
  sock.on('error', () => {});
  st.closedP = new Promise((r) => sock.on('close', () => { st.closed = true; r(); }));
  let upgraded = false;
  sock.on('data', (c) => {
    st.buf = Buffer.concat([st.buf, c]);
    if (!upgraded) {
      const end = st.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      st.head = st.buf.subarray(0, end).toString('latin1');
      st.buf = st.buf.subarray(end + 4);
      upgraded = true;
    }
    const { frames, rest } = parseFrames(st.buf);
    st.frames.push(...frames);
    st.buf = rest;
  });
  await new Promise((r, j) => { sock.once('connect', r); sock.once('error', j); });
  const key = crypto.randomBytes(16).toString('base64');
  sock.write(Buffer.concat([Buffer.from(`GET /cometd HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`), early]));
  await pollUntil(() => st.head || st.closed, { timeoutMs: 5000, what: 'upgrade response' });
  assert.match(st.head, /^HTTP\/1\.1 101 /);
  const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  assert.match(st.head, new RegExp(`\r\nSec-WebSocket-Accept: ${accept.replace(/[+/=]/g, '\\$&')}(\r\n|$)`, 'i'));
  st.texts = () => st.frames.filter((f) => f.opcode === 1).flatMap((f) => JSON.parse(f.payload.toString('utf8')));
  return st;
}

const handshake = (id) => JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['websocket'], id }]);

describe('websocket framing', () => {
  let server;
  before(async () => { server = await startServer({ config: { websocket: { idle_timeout_ms: IDLE_MS } } }); });
  after(async () => { await stopClean(server); });

  test('a message in three fragments (text + continuations) is one batch', async () => {
    const st = await rawWs(server);
    const text = handshake('f1');
    const a = text.slice(0, 10), b = text.slice(10, 30), c = text.slice(30);
    st.sock.write(Buffer.concat([clientFrame(1, a, { fin: false }), clientFrame(0, b, { fin: false }), clientFrame(0, c)]));
    await pollUntil(() => st.texts().some((m) => m.id === 'f1'), { timeoutMs: 5000, what: 'handshake reply' });
    assert.equal(st.texts().find((m) => m.id === 'f1').successful, true);
    st.sock.destroy();
  });

  test('a frame sent one byte at a time is handled once complete', async () => {
    const st = await rawWs(server);
    const bytes = clientFrame(1, handshake('b1'));
    for (const byte of bytes) {
      st.sock.write(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    await pollUntil(() => st.texts().some((m) => m.id === 'b1'), { timeoutMs: 5000, what: 'handshake reply' });
    st.sock.destroy();
  });

  test('many frames in one TCP write are all answered, in order', async () => {
    const st = await rawWs(server);
    st.sock.write(clientFrame(1, handshake('h')));
    await pollUntil(() => st.texts().some((m) => m.id === 'h'), { timeoutMs: 5000, what: 'handshake reply' });
    const clientId = st.texts().find((m) => m.id === 'h').clientId;
    const ch = uniqChannel();
    const batches = [clientFrame(1, JSON.stringify([{ channel: '/meta/subscribe', subscription: ch, clientId, id: 's' }]))];
    for (let i = 0; i < 50; i++) batches.push(clientFrame(1, JSON.stringify([{ channel: ch, data: { i }, clientId, id: `p${i}` }])));
    st.sock.write(Buffer.concat(batches));
    await pollUntil(() => st.texts().filter((m) => m.channel === ch && m.data).length === 50, { timeoutMs: 5000, what: '50 deliveries' });
    const got = st.texts().filter((m) => m.channel === ch && m.data).map((m) => m.data.i);
    assert.deepEqual(got, [...Array(50).keys()], 'deliveries in publish order');
    const acks = st.texts().filter((m) => /^p\d+$/.test(m.id ?? '')).map((m) => m.id);
    assert.deepEqual(acks, [...Array(50).keys()].map((i) => `p${i}`), 'replies in request order');
    st.sock.destroy();
  });

  test('a ping is answered by a pong with the same payload', async () => {
    const st = await rawWs(server);
    st.sock.write(clientFrame(9, 'hello?'));
    await pollUntil(() => st.frames.some((f) => f.opcode === 10), { timeoutMs: 5000, what: 'pong' });
    assert.equal(st.frames.find((f) => f.opcode === 10).payload.toString(), 'hello?');
    st.sock.destroy();
  });

  test('a close frame is echoed with its status code, then the socket closes', async () => {
    const st = await rawWs(server);
    st.sock.write(clientFrame(8, Buffer.from([0x03, 0xe8])));  // 1000
    await Promise.race([st.closedP, new Promise((r) => setTimeout(r, 5000))]);
    assert.ok(st.closed, 'socket still open after a close frame');
    const close = st.frames.find((f) => f.opcode === 8);
    assert.ok(close, 'no close frame came back');
    assert.equal(close.payload.readUInt16BE(0), 1000);
  });

  for (const [label, payload, expected] of [
    ['a one-byte close payload', Buffer.from([0x03]), 1002],
    ['close code 1005 (never on the wire)', Buffer.from([0x03, 0xed]), 1002],
    ['close code 999', Buffer.from([0x03, 0xe7]), 1002],
    ['close code 4000 (application range)', Buffer.from([0x0f, 0xa0]), 4000],
  ]) {
    test(`${label}: the close is answered with ${expected}`, async () => {
      const st = await rawWs(server);
      st.sock.write(clientFrame(8, payload));
      await Promise.race([st.closedP, new Promise((r) => setTimeout(r, 5000))]);
      const close = st.frames.find((f) => f.opcode === 8);
      assert.ok(close, 'no close frame came back');
      assert.equal(close.payload.readUInt16BE(0), expected);
    });
  }

  test('a 64-bit length with its top bit set is a protocol error (1002), not a crash', async () => {
    const st = await rawWs(server);
    // A fragment, then a continuation claiming 2^64 - 10 bytes.
    st.sock.write(clientFrame(1, '[{"channel":"/meta/hand', { fin: false }));
    st.sock.write(Buffer.concat([Buffer.from([0x80, 0x80 | 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf6]), Buffer.alloc(4), Buffer.from('xxxx')]));
    await Promise.race([st.closedP, new Promise((r) => setTimeout(r, 5000))]);
    assert.ok(st.closed);
    assert.equal(st.frames.find((f) => f.opcode === 8)?.payload.readUInt16BE(0), 1002);
    await assertWsRoundTrip(server);
  });

  test('a client that goes away right after a disconnect does not take the server down (no SIGPIPE)', async () => {
    for (let i = 0; i < 5; i++) {
      const st = await rawWs(server);
      st.sock.write(clientFrame(1, handshake('u')));
      await pollUntil(() => st.texts().some((m) => m.id === 'u'), { timeoutMs: 5000, what: 'handshake reply' });
      const clientId = st.texts().find((m) => m.id === 'u').clientId;
      st.sock.write(clientFrame(1, JSON.stringify([{ channel: '/meta/connect', clientId, connectionType: 'websocket', advice: { timeout: 0 } }])));
      st.sock.write(clientFrame(1, JSON.stringify([{ channel: '/meta/connect', clientId, connectionType: 'websocket' }])));
      await new Promise((r) => setTimeout(r, 100));
      // What a page unload does: a disconnect, then the socket closed at once. The held connect's
      // reply and the disconnect's reply are two writes to a peer that has gone.
      st.sock.write(clientFrame(1, JSON.stringify([{ channel: '/meta/disconnect', clientId }])));
      st.sock.destroy();
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(server.child.exitCode, null, 'the server exited');
    await assertWsRoundTrip(server);
  });

  test('a client that pings without reading is cut off before its pongs pile up', async () => {
    const st = await rawWs(server);
    st.sock.pause();  // never read: the pongs stay in the server
    const ping = clientFrame(9, 'p'.repeat(125));
    const chunk = Buffer.concat(Array(400).fill(ping));
    let sent = 0;
    while (!st.closed && sent < 40e6) {
      if (!st.sock.write(chunk)) await Promise.race([new Promise((r) => st.sock.once('drain', r)), st.closedP, new Promise((r) => setTimeout(r, 2000))]);
      sent += chunk.length;
      if (sent > 8e6 && !st.sock.writable) break;
    }
    await Promise.race([st.closedP, new Promise((r) => setTimeout(r, 5000))]);
    assert.ok(st.closed, `still open after ${sent} bytes of pings`);
    assert.equal(server.child.exitCode, null);
    await assertWsRoundTrip(server);
  });

  test('an upgrade with another Sec-WebSocket-Version gets 426 naming version 13', async () => {
    const sock = net.connect({ port: server.port, host: '127.0.0.1' });
    let text = '';
    sock.on('data', (c) => { text += c.toString('latin1'); });
    sock.on('error', () => {});
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /cometd HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n');
    await pollUntil(() => text.includes('\r\n\r\n'), { timeoutMs: 5000, what: 'a response' });
    assert.match(text, /^HTTP\/1\.1 426 /);
    assert.match(text, /\r\nSec-WebSocket-Version: 13\r\n/i);
    sock.destroy();
  });

  test('an upgrade without a Host header is refused with 400 (RFC 6455 §4.2.1)', async () => {
    const sock = net.connect({ port: server.port, host: '127.0.0.1' });
    let text = '';
    sock.on('data', (c) => { text += c.toString('latin1'); });
    sock.on('error', () => {});
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /cometd HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await pollUntil(() => text.includes('\r\n\r\n'), { timeoutMs: 5000, what: 'a response' });
    assert.match(text, /^HTTP\/1\.1 400 /);
    sock.destroy();
  });

  test('frames sent with the upgrade request, before the 101, are handled', async () => {
    const st = await rawWs(server, { early: Buffer.concat([clientFrame(1, handshake('e1')), clientFrame(9, 'early')]) });
    await pollUntil(() => st.texts().some((m) => m.id === 'e1'), { timeoutMs: 5000, what: 'the handshake reply' });
    assert.equal(st.texts().find((m) => m.id === 'e1').successful, true);
    await pollUntil(() => st.frames.some((f) => f.opcode === 10), { timeoutMs: 5000, what: 'the pong' });
    assert.equal(st.frames.find((f) => f.opcode === 10).payload.toString(), 'early');
    st.sock.destroy();
  });

  test('a text message that is not UTF-8 closes the connection with 1007; other clients are unaffected', async () => {
    const st = await rawWs(server);
    const bad = Buffer.concat([Buffer.from('[{"channel":"/meta/handshake","version":"1.0","id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]')]);
    st.sock.write(clientFrame(1, bad));
    await Promise.race([st.closedP, new Promise((r) => setTimeout(r, 5000))]);
    assert.ok(st.closed, 'still open after invalid UTF-8');
    assert.equal(st.frames.find((f) => f.opcode === 8)?.payload.readUInt16BE(0), 1007);
    assert.equal(st.texts().length, 0, 'the message was handled');
    await assertWsRoundTrip(server);
  });

  test('a binary message that is not UTF-8 gets 400::invalid_utf8 and the connection stays', async () => {
    const st = await rawWs(server);
    st.sock.write(clientFrame(2, Buffer.concat([Buffer.from('[{"channel":"/meta/handshake","id":"'), Buffer.from([0xff]), Buffer.from('"}]')])));
    await pollUntil(() => st.texts().length > 0, { timeoutMs: 5000, what: 'an error reply' });
    assert.equal(st.texts()[0].error, '400::invalid_utf8');
    st.sock.write(clientFrame(1, handshake('after')));
    await pollUntil(() => st.texts().some((m) => m.id === 'after'), { timeoutMs: 5000, what: 'the handshake reply' });
    assert.equal(st.closed, false);
    st.sock.destroy();
  });

  test('an empty batch gets no reply, and the connection goes on', async () => {
    const st = await rawWs(server);
    st.sock.write(clientFrame(1, '[]'));
    st.sock.write(clientFrame(1, handshake('after-empty')));
    await pollUntil(() => st.texts().some((m) => m.id === 'after-empty'), { timeoutMs: 5000, what: 'the handshake reply' });
    assert.equal(st.texts().length, 1, `replies: ${JSON.stringify(st.texts())}`);
    st.sock.destroy();
  });

  test('a character split across two fragments is valid UTF-8: the message is handled', async () => {
    const st = await rawWs(server);
    const msg = Buffer.from(JSON.stringify([{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['websocket'], id: 'é€' }]));
    const cut = msg.indexOf(Buffer.from('€')) + 1;  // inside the three bytes of €
    st.sock.write(clientFrame(1, msg.subarray(0, cut), { fin: false }));
    st.sock.write(clientFrame(0, msg.subarray(cut)));
    await pollUntil(() => st.texts().some((m) => m.id === 'é€'), { timeoutMs: 5000, what: 'the handshake reply' });
    assert.equal(st.closed, false);
    st.sock.destroy();
  });

  test('a quiet client is pinged at half of idle_timeout_ms and closed at all of it', async () => {
    const st = await rawWs(server);
    const start = Date.now();
    await pollUntil(() => st.frames.some((f) => f.opcode === 9), { timeoutMs: IDLE_MS, what: 'a ping from the server' });
    const pingAt = Date.now() - start;
    assert.ok(pingAt >= IDLE_MS / 2 - 1100, `pinged after ${pingAt} ms`);
    await Promise.race([st.closedP, new Promise((r) => setTimeout(r, IDLE_MS + 3000))]);
    assert.ok(st.closed, 'an idle client that never answers is closed');
    assert.ok(Date.now() - start >= IDLE_MS - 1100, `closed after ${Date.now() - start} ms`);
  });

  test('a client that answers pings stays connected past idle_timeout_ms', async () => {
    const st = await rawWs(server);
    const start = Date.now();
    let answered = 0;
    while (Date.now() - start < IDLE_MS + 1500) {
      const pings = st.frames.filter((f) => f.opcode === 9).length;
      if (pings > answered) { st.sock.write(clientFrame(10, '')); answered = pings; }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(answered >= 1, 'the server never pinged');
    assert.equal(st.closed, false, 'closed although it answered every ping');
    st.sock.destroy();
  });
});
