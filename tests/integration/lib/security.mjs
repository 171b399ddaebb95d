// Helpers for the security tests (security-*.test.mjs): servers with [auth] / [[channel]] / [api]
// settings, tokens and JWTs minted independently of Encke (node:crypto), the real CometD client
// (cometd + cometd-nodejs-client, unmodified, loaded as the interop suite loads them) with a
// recorder of every message it sends and receives, and an application webhook on node:http.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { BASE_CONFIG, makeTempDir, mergeConfig, startServer, stopClean, toToml } from './server.mjs';
import { httpRequest, sleep } from './http.mjs';
import { CometDNodeClient } from '../../interop/lib/clients.mjs';

export { sleep };

/** A secret of more than 16 bytes, shared by token and jwt HS256 servers. */
export const SECRET = 'security-test-secret-0123456789abcdef';
/** How long a single expected event may take (every wait in these files is bounded by it). */
export const WAIT = 5000;

export const nowS = () => Math.floor(Date.now() / 1000);
const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8').toString('base64url');

/** Bounded poll: resolves with pred()'s truthy value or throws naming `what`. */
export async function waitUntil(pred, what, { timeoutMs = WAIT, intervalMs = 10, detail } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

/** Races a promise against a deadline. */
export function within(promise, what, timeoutMs = WAIT) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs); }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------- credentials

/** An Encke token: base64url({"sub","exp"}) "." base64url(HMAC-SHA256(secret, first part)). */
export function mintToken(secret, user, exp = nowS() + 3600, extraClaims = {}) {
  const payload = b64url({ sub: user, exp, ...extraClaims });
  return `${payload}.${crypto.createHmac('sha256', secret).update(payload).digest('base64url')}`;
}

/** A compact JWS signed with HMAC-SHA256 (whatever `alg` the header claims). */
export function mintJwtHs256(secret, claims, header = { alg: 'HS256', typ: 'JWT' }) {
  const signed = `${b64url(header)}.${b64url(claims)}`;
  return `${signed}.${crypto.createHmac('sha256', secret).update(signed).digest('base64url')}`;
}

/** A compact JWS signed with RSASSA-PKCS1-v1_5 SHA-256. */
export function mintJwtRs256(privateKey, claims, header = { alg: 'RS256', typ: 'JWT' }) {
  const signed = `${b64url(header)}.${b64url(claims)}`;
  return `${signed}.${crypto.sign('sha256', Buffer.from(signed), privateKey).toString('base64url')}`;
}

// ---------------------------------------------------------------- servers

const tempDirs = [];
process.on('exit', () => {
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** A temporary directory removed when the test process exits. */
export function tempDir(prefix = 'encke-sec-') {
  const d = makeTempDir(prefix);
  tempDirs.push(d);
  return d;
}

/**
 * TOML text for [[channel]] tables (server.mjs's toToml writes plain tables only).
 * rules: [{pattern, subscribe?, publish?}]
 */
export function channelRulesToml(rules) {
  return rules.map((r) => {
    let t = `[[channel]]\npattern = ${JSON.stringify(r.pattern)}\n`;
    if (r.subscribe) t += `subscribe = ${JSON.stringify(r.subscribe)}\n`;
    if (r.publish) t += `publish = ${JSON.stringify(r.publish)}\n`;
    return `${t}\n`;
  }).join('');
}

/**
 * The config text the security servers run with: BASE_CONFIG, then max_sessions_per_browser = 0
 * (cometd-nodejs-client shares one cookie jar, so all its long-polling clients are one "browser"
 * and would otherwise get multiple-clients advice), then `config`, then [[channel]] rules.
 */
export function securityConfigText({ config = {}, rules = [] } = {}) {
  const cfg = mergeConfig(mergeConfig(BASE_CONFIG, { bayeux: { max_sessions_per_browser: 0 } }), config);
  return toToml(cfg) + channelRulesToml(rules);
}

/** Start encke with a security config; returns the server of server.mjs plus its config text. */
export async function startSecured({ config = {}, rules = [] } = {}) {
  const dir = tempDir('encke-sec-cfg-');
  const file = path.join(dir, 'encke.toml');
  const text = securityConfigText({ config, rules });
  fs.writeFileSync(file, text);
  const server = await startServer({ configFile: file, cwd: dir });
  server.configText = text;
  return server;
}

export async function healthz(server) {
  const r = await httpRequest({ port: server.port, path: '/healthz', timeoutMs: WAIT });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

/** POST /api/publish with an optional bearer key; body is a value (JSON-encoded) or a raw string. */
export function apiPublish(server, body, { key, headers = {}, method = 'POST' } = {}) {
  const h = { 'Content-Type': 'application/json', ...headers };
  if (key !== undefined) h.Authorization = `Bearer ${key}`;
  const payload = body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body));
  return httpRequest({ port: server.port, method, path: '/api/publish', headers: h, body: payload, timeoutMs: WAIT });
}

// ---------------------------------------------------------------- the CometD client

function isDelivery(m) {
  return m && typeof m.channel === 'string' && !m.channel.startsWith('/meta/') && 'data' in m && !('successful' in m);
}

/**
 * The npm CometD client under Node, restricted to one transport (no silent fallback), with a
 * recorder: `sent` / `received` keep every message, `deliveries` the broadcast ones.
 */
export class Client {
  static all = new Set();

  /** Create (no handshake yet). headers: requestHeaders for the HTTP transports. */
  static async create(server, { transport = 'websocket', name = 'client', headers } = {}) {
    const inner = await CometDNodeClient.create(server.url, { transport, name });
    return new Client(inner, { headers });
  }

  /** Create and handshake; asserts success. */
  static async open(server, { ext, ...opts } = {}) {
    const c = await Client.create(server, opts);
    const reply = await c.handshake(ext);
    assert.equal(reply.successful, true, `${c.name}: handshake refused: ${JSON.stringify(reply)}\n${c.dump()}`);
    return c;
  }

  constructor(inner, { headers } = {}) {
    this.inner = inner;
    this.cometd = inner.cometd;
    this.name = inner.name;
    this.sent = [];
    this.received = [];
    this.deliveries = [];
    if (headers) this.cometd.configure({ requestHeaders: headers });
    this.cometd.registerExtension('security-recorder', {
      outgoing: (m) => { this.sent.push({ at: Date.now(), m: structuredClone(m) }); return m; },
      incoming: (m) => {
        const e = { at: Date.now(), m: structuredClone(m) };
        this.received.push(e);
        if (isDelivery(m)) this.deliveries.push(e.m);
        return m;
      },
    });
    Client.all.add(this);
  }

  /** Handshake requests this client has sent so far. */
  handshakesSent() {
    return this.sent.filter((e) => e.m.channel === '/meta/handshake').map((e) => e.at);
  }

  /** Resolves with the first handshake reply (successful or not), as the handshake callback got it. */
  handshake(ext) {
    return within(new Promise((resolve) => {
      let first = true;
      this.cometd.handshake(ext === undefined ? {} : { ext }, (reply) => {
        if (first) { first = false; resolve(reply); }
      });
    }), `${this.name}: handshake callback`);
  }

  /** Resolves with the /meta/subscribe reply (successful or not). */
  subscribe(channel, onMessage = () => {}) {
    return within(new Promise((resolve) => {
      this.cometd.subscribe(channel, onMessage, (reply) => resolve(reply));
    }), `${this.name}: subscribe reply for ${channel}`);
  }

  /** Resolves with the publish reply (successful or not). */
  publish(channel, data, ext) {
    return within(new Promise((resolve) => {
      this.cometd.publish(channel, data, ext === undefined ? {} : { ext }, (reply) => resolve(reply));
    }), `${this.name}: publish reply for ${channel}`);
  }

  /** Deliveries of `channel` (wire level: one per message the server sent to this session). */
  got(channel, pred = () => true) {
    return this.deliveries.filter((m) => m.channel === channel && pred(m));
  }

  waitDelivery(pred, what, timeoutMs = WAIT) {
    return waitUntil(() => this.deliveries.find(pred), `${this.name}: ${what}`, { timeoutMs, detail: () => this.dump() });
  }

  dump(last = 30) {
    const lines = [...this.sent.map((e) => ({ ...e, d: '->' })), ...this.received.map((e) => ({ ...e, d: '<-' }))]
      .sort((a, b) => a.at - b.at).slice(-last)
      .map((e) => `${new Date(e.at).toISOString().slice(11, 23)} ${e.d} ${JSON.stringify(e.m).slice(0, 300)}`);
    return `--- ${this.name} (last ${last}) ---\n${lines.join('\n')}`;
  }

  async close() {
    Client.all.delete(this);
    if (this.cometd.isDisconnected()) return;
    await within(new Promise((resolve) => this.cometd.disconnect(() => resolve())), `${this.name}: disconnect`, 3000)
      .catch(() => {});
  }

  static async closeAll() {
    await Promise.all([...Client.all].map((c) => c.close()));
  }
}

/**
 * Assert a refused handshake as the CometD client reports it: the callback's reply has
 * successful false and exactly `error`; with advice reconnect none, the client sends no
 * further handshake for `quietMs` and ends disconnected.
 */
export async function assertRefused(c, ext, error, { quietMs = 1000, advice = { reconnect: 'none' } } = {}) {
  const reply = await c.handshake(ext);
  assert.equal(reply.successful, false, `${c.name}: handshake accepted: ${JSON.stringify(reply)}`);
  assert.equal(reply.error, error, `${c.name}: ${JSON.stringify(reply)}`);
  const wire = c.received.find((e) => e.m.channel === '/meta/handshake');
  assert.ok(wire, `${c.name}: no handshake reply on the wire\n${c.dump()}`);
  assert.deepEqual(wire.m.advice, advice, `${c.name}: advice of ${JSON.stringify(wire.m)}`);
  assert.equal(wire.m.clientId, undefined, `a refused handshake carries a clientId: ${JSON.stringify(wire.m)}`);
  if (quietMs > 0) {
    await sleep(quietMs);
    assert.equal(c.handshakesSent().length, 1, `${c.name}: the client handshook again after a refusal\n${c.dump()}`);
    assert.ok(c.cometd.isDisconnected(), `${c.name}: status ${c.cometd.getStatus()} after a refusal with reconnect none`);
  }
  return reply;
}

// ---------------------------------------------------------------- the application's webhook

/**
 * A node:http server standing for the application's auth endpoint. answer(req, res) where req is
 * {method, url, headers, raw, body (parsed JSON or undefined), at}; every request is kept in
 * `requests`. Timers the answer sets through `later` are cleared on close.
 */
export async function startWebhook(answer) {
  const requests = [];
  const timers = new Set();
  const later = (ms, fn) => {
    const t = setTimeout(() => { timers.delete(t); fn(); }, ms);
    timers.add(t);
  };
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body;
      try { body = JSON.parse(raw); } catch { body = undefined; }
      const rec = { method: req.method, url: req.url, headers: req.headers, raw, body, at: Date.now() };
      requests.push(rec);
      answer(rec, res, later);
    });
  });
  await new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', resolve);
  });
  const { port } = srv.address();
  return {
    port,
    url: `http://127.0.0.1:${port}/auth`,
    requests,
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      srv.closeAllConnections();
      return new Promise((resolve) => srv.close(() => resolve()));
    },
  };
}

/** A loopback port nothing listens on (bound, then closed). */
export async function closedPort() {
  const srv = http.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

export function json(res, status, body) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export { stopClean };
