// Raw Bayeux clients for the integration tests: an HTTP long-polling client with a cookie jar
// (one jar = one browser) and a WebSocket client that queues every frame it receives.
// Both record every delivery (non-meta message with `data`) they see in any response.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import { httpRequest, tryJson } from './http.mjs';
import { TIMEOUT_MS } from './server.mjs';

export { WebSocket };

/** A unique, spec-valid channel root such as "/t3k9x0a1b2". */
export function uniqChannel(prefix = 't') {
  return `/${prefix}${crypto.randomBytes(6).toString('hex')}`;
}

export function nonce() {
  return crypto.randomBytes(8).toString('hex');
}

/** A syntactically plausible clientId that the server never issued. */
export function unknownClientId() {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  let s = '';
  for (const b of crypto.randomBytes(26)) s += alphabet[b % 36];
  return s;
}

export function isDelivery(m) {
  return m && typeof m === 'object' && typeof m.channel === 'string' && !m.channel.startsWith('/meta/')
    && 'data' in m && !('successful' in m);
}

export function handshakeMessage(id, { types = ['long-polling'], ext, advice, extra } = {}) {
  const m = { channel: '/meta/handshake', version: '1.0', minimumVersion: '1.0', supportedConnectionTypes: types, id };
  if (ext !== undefined) m.ext = ext;
  if (advice !== undefined) m.advice = advice;
  return { ...m, ...(extra || {}) };
}

export class CookieJar {
  constructor() { this.cookies = new Map(); }
  store(setCookie) {
    if (!setCookie) return;
    for (const line of Array.isArray(setCookie) ? setCookie : [setCookie]) {
      const pair = line.split(';')[0];
      const i = pair.indexOf('=');
      if (i > 0) this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
  }
  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** Long-polling client. One instance = one Bayeux session at a time. */
export class HttpClient {
  constructor(server, { jar = new CookieJar(), path = '/cometd', cookies = true } = {}) {
    this.server = server;
    this.jar = jar;
    this.path = path;
    this.cookies = cookies;
    this.seq = 0;
    this.clientId = null;
    this.deliveries = [];
    this.responses = [];
  }

  nextId() { this.seq += 1; return String(this.seq); }

  /** POST a batch (array or object, or a raw string/Buffer body). */
  async post(batch, { path = this.path, headers = {}, contentType = 'application/json', timeoutMs = TIMEOUT_MS + 8000 } = {}) {
    const body = typeof batch === 'string' || Buffer.isBuffer(batch) ? batch : JSON.stringify(batch);
    const h = { ...headers };
    if (contentType) h['Content-Type'] = contentType;
    if (this.cookies && this.jar.cookies.size && !Object.keys(h).some((k) => k.toLowerCase() === 'cookie')) {
      h.Cookie = this.jar.header();
    }
    const res = await httpRequest({ port: this.server.port, method: 'POST', path, headers: h, body, timeoutMs });
    this.#record(res);
    return res;
  }

  #record(res) {
    this.responses.push(res);
    if (this.cookies) this.jar.store(res.headers['set-cookie']);
    if (Array.isArray(res.json)) {
      for (const m of res.json) if (isDelivery(m)) this.deliveries.push({ ...m, at: Date.now() });
    }
  }

  /** Find the reply to `id` on `channel` in a response. */
  static reply(res, id, channel) {
    assert.ok(Array.isArray(res.json), `expected a JSON array, got HTTP ${res.status}: ${res.text.slice(0, 500)}`);
    const r = res.json.find((m) => m && m.id === id && (channel === undefined || m.channel === channel) && 'successful' in m);
    assert.ok(r, `no reply with id ${JSON.stringify(id)} on ${channel} in ${res.text.slice(0, 1000)}`);
    return r;
  }

  async handshake(opts = {}) {
    const id = this.nextId();
    const res = await this.post([handshakeMessage(id, opts)], { path: opts.path || `${this.path}/handshake` });
    assert.equal(res.status, 200, `handshake HTTP status ${res.status}: ${res.text}`);
    const reply = HttpClient.reply(res, id, '/meta/handshake');
    if (opts.expectSuccess !== false) {
      assert.equal(reply.successful, true, `handshake failed: ${JSON.stringify(reply)}`);
      this.clientId = reply.clientId;
      this.advice = reply.advice;
    }
    return { res, reply };
  }

  connectMessage({ advice, ext, id = this.nextId(), clientId = this.clientId, connectionType = 'long-polling' } = {}) {
    const m = { channel: '/meta/connect', clientId, connectionType, id };
    if (advice !== undefined) m.advice = advice;
    if (ext !== undefined) m.ext = ext;
    return m;
  }

  /** Send one /meta/connect alone. Returns {res, reply, ms, id}. Asserts HTTP 200 unless allowError. */
  async connect(opts = {}) {
    const msg = this.connectMessage(opts);
    const t0 = Date.now();
    const res = await this.post([msg], { path: opts.path || `${this.path}/connect`, timeoutMs: opts.timeoutMs });
    const ms = Date.now() - t0;
    if (opts.allowError && res.status !== 200) return { res, reply: null, ms, id: msg.id };
    assert.equal(res.status, 200, `connect HTTP status ${res.status}: ${res.text}`);
    return { res, reply: HttpClient.reply(res, msg.id, '/meta/connect'), ms, id: msg.id };
  }

  /** Handshake then the first (never held) connect. */
  async open(opts = {}) {
    await this.handshake(opts);
    const c = await this.connect({ advice: { timeout: 0 } });
    assert.equal(c.reply.successful, true, `first connect failed: ${JSON.stringify(c.reply)}`);
    return this;
  }

  async call(message, opts = {}) {
    const id = message.id === undefined ? this.nextId() : message.id;
    const m = { clientId: this.clientId, ...message, id };
    const res = await this.post([m], opts);
    assert.equal(res.status, 200, `HTTP status ${res.status} for ${JSON.stringify(m)}: ${res.text}`);
    return { res, reply: HttpClient.reply(res, id, m.channel) };
  }

  async subscribe(subscription, extra = {}) {
    return (await this.call({ channel: '/meta/subscribe', subscription, ...extra })).reply;
  }

  async unsubscribe(subscription, extra = {}) {
    return (await this.call({ channel: '/meta/unsubscribe', subscription, ...extra })).reply;
  }

  async publish(channel, data, extra = {}) {
    return (await this.call({ channel, data, ...extra })).reply;
  }

  async disconnect() {
    return (await this.call({ channel: '/meta/disconnect' }, { path: `${this.path}/disconnect` })).reply;
  }

  /**
   * Send connects until a delivery matching pred has been seen (in any response).
   * Returns the matching delivery. Bounded by timeoutMs.
   */
  async waitFor(pred, { timeoutMs = TIMEOUT_MS * 2 + 4000, what = 'a delivery' } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.deliveries.find(pred);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no ${what} within ${timeoutMs} ms; deliveries seen: ${JSON.stringify(this.deliveries).slice(0, 2000)}`);
      }
      const c = await this.connect({ timeoutMs: Math.max(left, 1000) + TIMEOUT_MS + 2000 });
      assert.equal(c.reply.successful, true, `connect failed while waiting for ${what}: ${JSON.stringify(c.reply)}`);
    }
  }

  /** Deliveries seen so far, up to and including the first one matching `until` (waiting for it). */
  async collectUntil(until, opts = {}) {
    const last = await this.waitFor(until, opts);
    return this.deliveries.slice(0, this.deliveries.indexOf(last) + 1);
  }
}

/** WebSocket client; every received frame is kept with its arrival time. */
export class WsClient {
  static open(server, { path = '/cometd', protocols, headers, timeoutMs = 10000, url } = {}) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url || `ws://127.0.0.1:${server.port}${path}`, protocols, { headers, handshakeTimeout: timeoutMs });
      const client = new WsClient(ws, server);
      const timer = setTimeout(() => { ws.terminate(); reject(new Error('WebSocket open timeout')); }, timeoutMs);
      ws.once('open', () => { clearTimeout(timer); resolve(client); });
      ws.once('error', (e) => { clearTimeout(timer); reject(e); });
      ws.once('unexpected-response', (req, res) => {
        clearTimeout(timer);
        reject(new Error(`WebSocket upgrade refused: HTTP ${res.statusCode}`));
      });
    });
  }

  constructor(ws, server) {
    this.ws = ws;
    this.server = server;
    this.seq = 0;
    this.clientId = null;
    this.frames = [];      // {at, text, msgs}
    this.messages = [];    // {at, frame, msg}
    this.deliveries = [];
    this.closeInfo = null; // {code, reason, at}
    this.waiters = new Set();
    ws.on('error', () => { /* surfaced as close */ });
    ws.on('message', (data, isBinary) => {
      const text = data.toString('utf8');
      const json = tryJson(text);
      const frame = { at: Date.now(), text, binary: isBinary, msgs: Array.isArray(json) ? json : (json === undefined ? [] : [json]), json };
      this.frames.push(frame);
      for (const msg of frame.msgs) {
        this.messages.push({ at: frame.at, frame, msg });
        if (isDelivery(msg)) this.deliveries.push({ ...msg, at: frame.at, frame });
      }
      this.#notify();
    });
    ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString(), at: Date.now() };
      this.#notify();
    });
  }

  #notify() { for (const w of [...this.waiters]) w(); }

  nextId() { this.seq += 1; return String(this.seq); }

  send(batch) { this.ws.send(typeof batch === 'string' ? batch : JSON.stringify(batch)); }

  /** Wait until check() returns a truthy value (re-evaluated on every frame/close). */
  until(check, { timeoutMs = 10000, what = 'a frame' } = {}) {
    return new Promise((resolve, reject) => {
      const attempt = () => {
        let v;
        try { v = check(); } catch (e) { cleanup(); reject(e); return; }
        if (v) { cleanup(); resolve(v); return; }
        if (this.closeInfo) {
          cleanup();
          reject(new Error(`WebSocket closed (${this.closeInfo.code} ${this.closeInfo.reason}) while waiting for ${what}; frames: ${this.frames.map((f) => f.text).join(' | ').slice(0, 1500)}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${what} within ${timeoutMs} ms; frames: ${this.frames.map((f) => f.text).join(' | ').slice(0, 1500)}`));
      }, timeoutMs);
      const cleanup = () => { clearTimeout(timer); this.waiters.delete(attempt); };
      this.waiters.add(attempt);
      attempt();
    });
  }

  /** The reply (message with `successful`) to id on channel, waiting for it. Returns {msg, at, frame}. */
  waitReply(id, channel, opts = {}) {
    return this.until(() => this.messages.find((e) => e.msg && e.msg.id === id && (channel === undefined || e.msg.channel === channel) && 'successful' in e.msg),
      { what: `reply to ${id} on ${channel}`, ...opts });
  }

  waitDelivery(pred, opts = {}) {
    return this.until(() => this.deliveries.find(pred), { what: 'a delivery', ...opts });
  }

  waitClose(opts = {}) {
    if (this.closeInfo) return Promise.resolve(this.closeInfo);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiters.delete(check); reject(new Error(`WebSocket not closed within ${opts.timeoutMs ?? 10000} ms`)); }, opts.timeoutMs ?? 10000);
      const check = () => { if (this.closeInfo) { clearTimeout(timer); this.waiters.delete(check); resolve(this.closeInfo); } };
      this.waiters.add(check);
    });
  }

  async request(message, opts = {}) {
    const id = message.id === undefined ? this.nextId() : message.id;
    const m = { ...message, id };
    if (m.clientId === undefined && m.channel !== '/meta/handshake' && this.clientId) m.clientId = this.clientId;
    const t0 = Date.now();
    this.send([m]);
    const r = await this.waitReply(id, m.channel, opts);
    return { reply: r.msg, at: r.at, frame: r.frame, ms: r.at - t0, id };
  }

  async handshake(opts = {}) {
    const id = this.nextId();
    const t0 = Date.now();
    this.send([handshakeMessage(id, { types: ['websocket'], ...opts })]);
    const r = await this.waitReply(id, '/meta/handshake');
    if (opts.expectSuccess !== false) {
      assert.equal(r.msg.successful, true, `WebSocket handshake failed: ${JSON.stringify(r.msg)}`);
      this.clientId = r.msg.clientId;
      this.advice = r.msg.advice;
    }
    return { reply: r.msg, frame: r.frame, ms: r.at - t0 };
  }

  /** Send a connect; returns {id, sentAt, reply: Promise<{reply, at, ms}>}. */
  connect({ advice, ext, clientId = this.clientId, timeoutMs = TIMEOUT_MS + 8000 } = {}) {
    const id = this.nextId();
    const m = { channel: '/meta/connect', clientId, connectionType: 'websocket', id };
    if (advice !== undefined) m.advice = advice;
    if (ext !== undefined) m.ext = ext;
    const sentAt = Date.now();
    this.send([m]);
    const reply = this.waitReply(id, '/meta/connect', { timeoutMs }).then((r) => ({ reply: r.msg, at: r.at, frame: r.frame, ms: r.at - sentAt }));
    reply.catch(() => { /* observed by the caller */ });
    return { id, sentAt, reply };
  }

  async open(opts = {}) {
    await this.handshake(opts);
    const c = await this.connect({ advice: { timeout: 0 } }).reply;
    assert.equal(c.reply.successful, true, `first WebSocket connect failed: ${JSON.stringify(c.reply)}`);
    return this;
  }

  async subscribe(subscription) { return (await this.request({ channel: '/meta/subscribe', subscription })).reply; }

  async publish(channel, data, extra = {}) { return (await this.request({ channel, data, ...extra })).reply; }

  close() {
    try { this.ws.terminate(); } catch { /* ignore */ }
  }
}

/**
 * A complete, fresh round trip over long-polling: handshake, subscribe, first connect, publish
 * and receive the message. Used after every bad-input test to prove the server still serves.
 */
export async function assertRoundTrip(server, { label = 'round trip' } = {}) {
  const ch = uniqChannel('rt');
  const sub = new HttpClient(server);
  await sub.handshake();
  assert.equal((await sub.subscribe(ch)).successful, true, `${label}: subscribe failed`);
  await sub.connect({ advice: { timeout: 0 } });
  const pub = new HttpClient(server);
  await pub.handshake();
  const n = nonce();
  assert.equal((await pub.publish(ch, { n })).successful, true, `${label}: publish failed`);
  const d = await sub.waitFor((m) => m.channel === ch && m.data && m.data.n === n, { what: `${label} delivery` });
  assert.deepEqual(d.data, { n });
  await sub.disconnect();
  await pub.disconnect();
}

/** The same round trip over WebSocket. */
export async function assertWsRoundTrip(server) {
  const ch = uniqChannel('wsrt');
  const ws = await WsClient.open(server);
  try {
    await ws.open();
    assert.equal((await ws.subscribe(ch)).successful, true);
    ws.connect(); // held: deliveries are pushed while it waits
    const n = nonce();
    assert.equal((await ws.publish(ch, { n })).successful, true);
    await ws.waitDelivery((m) => m.channel === ch && m.data && m.data.n === n, { timeoutMs: 8000 });
  } finally {
    ws.close();
  }
}
