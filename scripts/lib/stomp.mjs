// A small STOMP 1.2 client on node:net, no dependencies. Used by scripts/price-feed.mjs and, through
// tests/bridge/lib/stomp.mjs, by the bridge tests against ActiveMQ and RabbitMQ.
//
//   import { connect } from './lib/stomp.mjs';
//   const c = await connect({ port: 61613 });                  // RabbitMQ: { port: 61633, vhost: '/' }
//   const sub = await c.subscribe('/topic/prices.>');          // returns once the broker's RECEIPT is in
//   await c.send('/topic/prices.EURUSD', '{"bid":1.08}', { receipt: true });
//   const msg = await sub.next(5000);                          // { command, headers, body, text, ... }
//   for await (const m of sub) { ... }                         // ends when the connection closes
//   await c.disconnect();
//
// What it takes care of:
// - Framing: a frame ends at the NUL after its body, or after content-length bytes when that header
//   is present (a body may then contain NUL). EOLs between frames (heart-beats) are skipped.
// - STOMP 1.2 header escaping (\\ \n \r \c) in every frame except CONNECT and CONNECTED, which the
//   spec leaves unescaped; a repeated header keeps its first value, as the spec says.
// - Receipts: a frame sent with a receipt resolves when the RECEIPT arrives, rejects on a matching
//   ERROR, on the connection closing, or after timeoutMs.
// - Back-pressure: send() waits for 'drain' when the socket buffer is full, so a fast producer does
//   not buffer without bound in memory.
//
// On SEND, no content-length is added unless asked for: ActiveMQ turns a SEND without it into a JMS
// TextMessage and one with it into a BytesMessage (JMS consumers calling getText() then fail). A body
// without content-length must not contain NUL, so send() refuses one that does.

import net from 'node:net';
import { EventEmitter } from 'node:events';

const NUL = 0;
const LF = 10;
const CR = 13;

export class StompError extends Error {
  constructor(message, frame) {
    super(message);
    this.name = 'StompError';
    this.frame = frame;                 // the ERROR frame, when there was one
  }
}

export class TimeoutError extends Error {
  constructor(message) {
    super(message);
    this.name = 'TimeoutError';
    this.code = 'ETIMEDOUT';
  }
}

// ---------------------------------------------------------------- header escaping (STOMP 1.2)

export function escapeHeader(s) {
  return String(s).replace(/[\\\n\r:]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', ':': '\\c' })[c]);
}

/** Undo escapeHeader. An undefined escape sequence is a protocol error (STOMP 1.2 says so). */
export function unescapeHeader(s) {
  return s.replace(/\\(.?)/gs, (all, c) => {
    switch (c) {
      case '\\': return '\\';
      case 'n': return '\n';
      case 'r': return '\r';
      case 'c': return ':';
      default: throw new StompError(`invalid escape sequence ${JSON.stringify(all)} in a header`);
    }
  });
}

// ---------------------------------------------------------------- frames

/**
 * Serialize one frame. `headers` is an object or an array of [name, value] pairs (order kept;
 * values are stringified; undefined/null values are left out). Headers are escaped except in
 * CONNECT/CONNECTED frames. With `contentLength: true` a content-length header is added.
 */
export function encodeFrame(command, headers = {}, body = '', { contentLength = false } = {}) {
  const raw = command === 'CONNECT' || command === 'CONNECTED' || command === 'STOMP';
  const bodyBuf = Buffer.isBuffer(body) ? body : Buffer.from(String(body ?? ''), 'utf8');
  const pairs = Array.isArray(headers) ? headers : Object.entries(headers);
  let head = `${command}\n`;
  for (const [k, v] of pairs) {
    if (v === undefined || v === null) continue;
    if (raw && /[\n\r:]/.test(String(k)) || raw && /[\n\r]/.test(String(v))) {
      throw new StompError(`header ${k} of a ${command} frame cannot contain a newline (or a colon in its name)`);
    }
    head += raw ? `${k}:${v}\n` : `${escapeHeader(k)}:${escapeHeader(v)}\n`;
  }
  if (contentLength) head += `content-length:${bodyBuf.length}\n`;
  head += '\n';
  return Buffer.concat([Buffer.from(head, 'utf8'), bodyBuf, Buffer.from([NUL])]);
}

/**
 * Incremental frame decoder. push(chunk) returns the complete frames found so far; a partial frame
 * stays buffered. Frames: { command, headers (object, first value wins), headerList ([name, value]
 * in order, repeats included), body (Buffer), text (body as UTF-8) }.
 */
export class FrameDecoder {
  constructor({ maxFrameBytes = 16 * 1024 * 1024 } = {}) {
    this.buf = Buffer.alloc(0);
    this.maxFrameBytes = maxFrameBytes;
  }

  push(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const frames = [];
    for (;;) {
      // Heart-beats and the optional EOLs after a frame's NUL.
      let start = 0;
      while (start < this.buf.length && (this.buf[start] === LF || this.buf[start] === CR)) start++;
      if (start) this.buf = this.buf.subarray(start);
      if (!this.buf.length) break;
      const frame = this.#parseOne();
      if (!frame) break;
      frames.push(frame);
    }
    if (this.buf.length > this.maxFrameBytes) {
      throw new StompError(`incoming frame larger than ${this.maxFrameBytes} bytes`);
    }
    return frames;
  }

  #parseOne() {
    const b = this.buf;
    // End of the header block: the first empty line (LF LF, or with CRs: STOMP 1.2 allows CRLF).
    let i = 0;
    let headEnd = -1;
    let bodyStart = -1;
    while (i < b.length) {
      const lf = b.indexOf(LF, i);
      if (lf < 0) return null;
      const lineLen = lf - i - (lf > i && b[lf - 1] === CR ? 1 : 0);
      if (lineLen === 0 && i > 0) { headEnd = i; bodyStart = lf + 1; break; }
      i = lf + 1;
    }
    if (headEnd < 0) return null;
    const lines = b.subarray(0, headEnd).toString('utf8').split('\n').map((l) => l.replace(/\r$/, ''));
    const command = lines.shift();
    const raw = command === 'CONNECTED' || command === 'CONNECT';
    const headers = {};
    const headerList = [];
    for (const line of lines) {
      if (line === '') continue;
      const colon = line.indexOf(':');
      if (colon < 0) throw new StompError(`malformed header line ${JSON.stringify(line)} in ${command}`);
      const k = raw ? line.slice(0, colon) : unescapeHeader(line.slice(0, colon));
      const v = raw ? line.slice(colon + 1) : unescapeHeader(line.slice(colon + 1));
      headerList.push([k, v]);
      if (!(k in headers)) headers[k] = v;
    }
    let bodyEnd;
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (!Number.isInteger(n) || n < 0) throw new StompError(`bad content-length ${headers['content-length']}`);
      if (b.length < bodyStart + n + 1) return null;
      if (b[bodyStart + n] !== NUL) throw new StompError(`frame ${command}: no NUL after content-length ${n} bytes`);
      bodyEnd = bodyStart + n;
    } else {
      bodyEnd = b.indexOf(NUL, bodyStart);
      if (bodyEnd < 0) return null;
    }
    const body = Buffer.from(b.subarray(bodyStart, bodyEnd));   // a copy: the buffer is reused
    this.buf = b.subarray(bodyEnd + 1);
    return { command, headers, headerList, body, get text() { return body.toString('utf8'); } };
  }
}

// ---------------------------------------------------------------- a queue with timed waits

class FrameQueue {
  constructor() {
    this.items = [];
    this.waiters = [];
    this.closed = null;                 // an Error once no more items will come
  }

  push(item) {
    const w = this.waiters.shift();
    if (w) w.resolve(item);
    else this.items.push(item);
  }

  close(err) {
    if (this.closed) return;
    this.closed = err;
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  /** The next item; rejects with TimeoutError after timeoutMs (Infinity: wait for ever). */
  next(timeoutMs, what) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      if (Number.isFinite(timeoutMs)) {
        const t = setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(new TimeoutError(`no ${what} within ${timeoutMs} ms`));
        }, timeoutMs);
        w.resolve = (v) => { clearTimeout(t); resolve(v); };
        w.reject = (e) => { clearTimeout(t); reject(e); };
      }
      this.waiters.push(w);
    });
  }
}

// ---------------------------------------------------------------- subscription

export class Subscription {
  constructor(client, id, destination, ack) {
    this.client = client;
    this.id = id;
    this.destination = destination;
    this.ack = ack;
    this.queue = new FrameQueue();
  }

  /** The next MESSAGE frame of this subscription; rejects with TimeoutError after timeoutMs. */
  next(timeoutMs = 10000) {
    return this.queue.next(timeoutMs, `MESSAGE on ${this.destination}`);
  }

  /** Like next(), but resolves null on timeout (for "nothing arrives" checks). */
  async nextOrNull(timeoutMs) {
    try { return await this.next(timeoutMs); } catch (e) { if (e instanceof TimeoutError) return null; throw e; }
  }

  /** Messages already received and not yet taken. */
  get pending() { return this.queue.items.length; }

  async *[Symbol.asyncIterator]() {
    for (;;) {
      let m;
      try { m = await this.queue.next(Infinity, 'MESSAGE'); } catch { return; }
      yield m;
    }
  }

  /** UNSUBSCRIBE (with a receipt by default). */
  async unsubscribe({ receipt = true, timeoutMs } = {}) {
    this.client.subscriptions.delete(this.id);
    this.queue.close(new StompError(`unsubscribed from ${this.destination}`));
    await this.client.sendFrame('UNSUBSCRIBE', { id: this.id }, '', { receipt, timeoutMs });
  }
}

// ---------------------------------------------------------------- client

/**
 * A connected STOMP client. Create it with connect(). Emits 'error' only if a listener is attached
 * (errors also reject pending operations), and 'close' when the connection ends.
 */
export class StompClient extends EventEmitter {
  constructor(socket, opts) {
    super();
    this.socket = socket;
    this.opts = opts;
    this.decoder = new FrameDecoder({ maxFrameBytes: opts.maxFrameBytes });
    this.subscriptions = new Map();
    this.receipts = new Map();
    this.unrouted = new FrameQueue();   // MESSAGE frames for no known subscription
    this.errors = [];                   // ERROR frames received (brokers close right after one)
    this.server = null;                 // CONNECTED headers
    this.closed = null;                 // Error once the connection is gone
    this.nextSub = 0;
    this.nextReceipt = 0;
    this.heartbeatTimer = null;
  }

  // -- incoming

  onData(chunk) {
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      this.fail(e);
      this.socket.destroy();
      return;
    }
    for (const f of frames) this.onFrame(f);
  }

  onFrame(f) {
    switch (f.command) {
      case 'MESSAGE': {
        const sub = this.subscriptions.get(f.headers.subscription);
        (sub ? sub.queue : this.unrouted).push(f);
        break;
      }
      case 'RECEIPT': {
        const r = this.receipts.get(f.headers['receipt-id']);
        if (r) { this.receipts.delete(f.headers['receipt-id']); r.resolve(f); }
        break;
      }
      case 'ERROR': {
        this.errors.push(f);
        const msg = `${f.headers.message || 'ERROR'}${f.text ? `: ${f.text.trim()}` : ''}`;
        const err = new StompError(`broker sent ERROR: ${msg}`, f);
        const r = f.headers['receipt-id'] && this.receipts.get(f.headers['receipt-id']);
        if (r) { this.receipts.delete(f.headers['receipt-id']); r.reject(err); }
        // After an ERROR the broker closes the connection; everything still waiting fails with it.
        this.fail(err);
        break;
      }
      default:
        break;
    }
  }

  fail(err, { emit = true } = {}) {
    if (this.closed) return;            // the first cause is the one reported
    this.closed = err;
    for (const [id, r] of this.receipts) { this.receipts.delete(id); r.reject(err); }
    for (const sub of this.subscriptions.values()) sub.queue.close(err);
    this.unrouted.close(err);
    if (emit && this.listenerCount('error')) this.emit('error', err);
  }

  // -- outgoing

  write(buf) {
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => {
      const ok = this.socket.write(buf, (err) => { if (err) reject(err); });
      if (ok) resolve();
      else {
        // Resolve on drain, or fail when the socket goes away first.
        const onDrain = () => { this.socket.off('close', onClose); resolve(); };
        const onClose = () => { this.socket.off('drain', onDrain); reject(this.closed || new StompError('connection closed')); };
        this.socket.once('drain', onDrain);
        this.socket.once('close', onClose);
      }
    });
  }

  /**
   * Send any frame. With receipt (true or an id string) the promise resolves with the RECEIPT frame
   * once it arrives; otherwise once the frame is handed to the socket.
   */
  async sendFrame(command, headers = {}, body = '', { receipt = false, timeoutMs = this.opts.timeoutMs, contentLength = false } = {}) {
    if (this.closed) throw this.closed;
    const h = Array.isArray(headers) ? [...headers] : Object.entries(headers);
    let wait = null;
    if (receipt) {
      const id = typeof receipt === 'string' ? receipt : `r-${++this.nextReceipt}`;
      h.push(['receipt', id]);
      wait = new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          this.receipts.delete(id);
          reject(new TimeoutError(`no RECEIPT for ${command} (${id}) within ${timeoutMs} ms`));
        }, timeoutMs);
        this.receipts.set(id, {
          resolve: (f) => { clearTimeout(t); resolve(f); },
          reject: (e) => { clearTimeout(t); reject(e); },
        });
      });
      wait.catch(() => {});             // observed below; avoid an unhandled rejection if write fails first
    }
    await this.write(encodeFrame(command, h, body, { contentLength }));
    return wait ? wait : undefined;
  }

  /**
   * SUBSCRIBE. Resolves with a Subscription once the broker's RECEIPT arrives (then the
   * subscription is live: messages sent after that reach it). ack: 'auto' | 'client' |
   * 'client-individual'. headers: extra headers, e.g. ActiveMQ's durable subscription
   * { 'activemq.subscriptionName': 'x' } (with clientId on connect) or RabbitMQ's
   * { durable: 'true', 'auto-delete': 'false' }.
   */
  async subscribe(destination, { id, ack = 'auto', headers = {}, receipt = true, timeoutMs } = {}) {
    const subId = id ?? `sub-${this.nextSub++}`;
    const sub = new Subscription(this, String(subId), destination, ack);
    this.subscriptions.set(sub.id, sub);
    try {
      await this.sendFrame('SUBSCRIBE', { id: sub.id, destination, ack, ...headers }, '', { receipt, timeoutMs });
    } catch (e) {
      this.subscriptions.delete(sub.id);
      throw e;
    }
    return sub;
  }

  /**
   * SEND body (string or Buffer) to destination. Options: headers (e.g. 'content-type',
   * persistent: 'true'), receipt (wait for the broker's RECEIPT), contentLength (add the header;
   * needed for a body with NUL bytes; ActiveMQ then makes a BytesMessage).
   */
  send(destination, body = '', { headers = {}, receipt = false, contentLength = false, timeoutMs } = {}) {
    const buf = Buffer.isBuffer(body) ? body : Buffer.from(String(body), 'utf8');
    if (!contentLength && buf.includes(NUL)) {
      return Promise.reject(new StompError('a body containing NUL needs contentLength: true'));
    }
    return this.sendFrame('SEND', { destination, ...headers }, buf, { receipt, contentLength, timeoutMs });
  }

  /** ACK a MESSAGE received on a client / client-individual subscription (STOMP 1.2: its ack header). */
  async ack(message, { receipt = false, transaction, timeoutMs } = {}) {
    return this.sendFrame('ACK', { id: ackId(message), transaction }, '', { receipt, timeoutMs });
  }

  async nack(message, { receipt = false, transaction, timeoutMs } = {}) {
    return this.sendFrame('NACK', { id: ackId(message), transaction }, '', { receipt, timeoutMs });
  }

  /** The next MESSAGE frame that belongs to no subscription of this client. */
  next(timeoutMs = 10000) {
    return this.unrouted.next(timeoutMs, 'unrouted MESSAGE');
  }

  /** DISCONNECT with a receipt (so everything sent before is processed), then close the socket. */
  async disconnect({ timeoutMs = this.opts.timeoutMs } = {}) {
    if (this.closed) { this.socket.destroy(); return; }
    try {
      await this.sendFrame('DISCONNECT', {}, '', { receipt: true, timeoutMs });
    } catch { /* closing anyway */ }
    this.close();
  }

  /** Close the socket at once (no DISCONNECT): what a crashing client would do. */
  close() {
    clearInterval(this.heartbeatTimer);
    this.fail(new StompError('connection closed by the client'), { emit: false });
    this.socket.destroy();
  }
}

function ackId(message) {
  const id = message?.headers?.ack;
  if (id === undefined) throw new StompError('MESSAGE has no ack header (subscription with ack:auto?)');
  return id;
}

/**
 * Connect and wait for CONNECTED. Options:
 *   host ('127.0.0.1'), port (61613), vhost (the STOMP host header; default 'localhost', which
 *   ActiveMQ ignores; RabbitMQ needs '/'), login, passcode, clientId (client-id header: ActiveMQ's
 *   durable subscriptions need it), heartBeat ('0,0' = none; e.g. '10000,10000'), headers (extra
 *   CONNECT headers), timeoutMs (5000: connect, and default for receipts), maxFrameBytes.
 */
export function connect(opts = {}) {
  const o = {
    host: '127.0.0.1', port: 61613, vhost: 'localhost', heartBeat: '0,0', timeoutMs: 5000,
    maxFrameBytes: 16 * 1024 * 1024, headers: {}, ...opts,
  };
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: o.host, port: o.port });
    socket.setNoDelay(true);
    const client = new StompClient(socket, o);
    let settled = false;
    const done = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) { socket.destroy(); reject(err); } else resolve(client);
    };
    const timer = setTimeout(() => done(new TimeoutError(`no CONNECTED from ${o.host}:${o.port} within ${o.timeoutMs} ms`)), o.timeoutMs);

    socket.on('data', (chunk) => {
      if (client.server) { client.onData(chunk); return; }
      let frames;
      try { frames = client.decoder.push(chunk); } catch (e) { done(e); return; }
      for (let i = 0; i < frames.length; i++) {
        const f = frames[i];
        if (!client.server) {
          if (f.command === 'CONNECTED') {
            client.server = f.headers;
            startHeartbeat(client, o.heartBeat, f.headers['heart-beat']);
            done();
          } else {
            const why = f.command === 'ERROR' ? `${f.headers.message || ''} ${f.text}`.trim() : f.command;
            done(new StompError(`CONNECT refused by ${o.host}:${o.port}: ${why}`, f));
            return;
          }
        } else {
          client.onFrame(f);
        }
      }
    });
    socket.on('error', (e) => { done(e); client.fail(e); });
    socket.on('close', () => {
      clearInterval(client.heartbeatTimer);
      done(new StompError(`connection to ${o.host}:${o.port} closed before CONNECTED`));
      client.fail(client.closed || new StompError('connection closed by the broker'));
      client.emit('close');
    });
    socket.on('connect', () => {
      const h = { 'accept-version': '1.2', host: o.vhost, 'heart-beat': o.heartBeat };
      if (o.login !== undefined) h.login = o.login;
      if (o.passcode !== undefined) h.passcode = o.passcode;
      if (o.clientId !== undefined) h['client-id'] = o.clientId;
      Object.assign(h, o.headers);
      socket.write(encodeFrame('CONNECT', h));
    });
  });
}

// Outgoing heart-beats when both sides want them: an EOL every max(ours, theirs) ms. (Incoming ones
// are skipped by the decoder; detecting a dead broker is left to the caller's timeouts.)
function startHeartbeat(client, ours, theirs) {
  const [cx] = String(ours).split(',').map(Number);
  const [, sy] = String(theirs || '0,0').split(',').map(Number);
  if (!(cx > 0) || !(sy > 0)) return;
  client.heartbeatTimer = setInterval(() => {
    if (!client.closed) client.socket.write('\n');
  }, Math.max(cx, sy));
  client.heartbeatTimer.unref();
}
