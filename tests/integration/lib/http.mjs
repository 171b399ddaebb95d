// HTTP helpers: a bounded request with node:http (one fresh TCP connection per request, so a
// held long-poll never blocks another request), and raw-socket tools for byte-exact requests.

import http from 'node:http';
import net from 'node:net';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Run fn until it returns a truthy value or timeoutMs passes; returns that value or throws. */
export async function pollUntil(fn, { timeoutMs = 5000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await sleep(intervalMs);
  }
}

export function tryJson(text) {
  try { return JSON.parse(text); } catch { return undefined; }
}

/**
 * One HTTP request on its own connection.
 * @returns {Promise<{status:number, headers:object, rawHeaders:string[], body:Buffer, text:string, json:any, ms:number}>}
 */
export function httpRequest({ port, host = '127.0.0.1', method = 'GET', path = '/', headers = {}, body, timeoutMs = 15000 }) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const hdrs = { ...headers };
    if (body !== undefined && body !== null && !Object.keys(hdrs).some((k) => k.toLowerCase() === 'content-length')
        && !Object.keys(hdrs).some((k) => k.toLowerCase() === 'transfer-encoding')) {
      hdrs['Content-Length'] = Buffer.byteLength(body);
    }
    const req = http.request({ host, port, method, path, headers: hdrs, agent: false });
    const timer = setTimeout(() => {
      req.destroy(new Error(`HTTP ${method} ${path} got no complete response within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (e) => { clearTimeout(timer); reject(e); });
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', (e) => { clearTimeout(timer); reject(e); });
      res.on('end', () => {
        clearTimeout(timer);
        const buf = Buffer.concat(chunks);
        const text = buf.toString('utf8');
        resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body: buf, text, json: tryJson(text), ms: Date.now() - t0 });
      });
    });
    if (body !== undefined && body !== null) req.write(body);
    req.end();
  });
}

// ---------------------------------------------------------------- raw HTTP parsing

/**
 * Parse one HTTP/1.x response from the start of buf. Returns null when incomplete (unless
 * `atEof`, in which case a body without length runs to the end of the buffer).
 */
export function parseHttpResponse(buf, { atEof = false, headRequest = false } = {}) {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const head = buf.subarray(0, headEnd).toString('latin1');
  const lines = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0])}`);
  const status = Number(m[1]);
  const headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const k = line.slice(0, i).trim().toLowerCase();
    const v = line.slice(i + 1).trim();
    headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
  }
  let pos = headEnd + 4;
  const noBody = headRequest || status === 304 || status === 204 || (status >= 100 && status < 200);
  if (noBody) return { status, reason: m[2] || '', headers, body: Buffer.alloc(0), length: pos };
  if (/chunked/i.test(headers['transfer-encoding'] || '')) {
    const parts = [];
    for (;;) {
      const le = buf.indexOf('\r\n', pos);
      if (le < 0) return null;
      const size = parseInt(buf.subarray(pos, le).toString('latin1'), 16);
      if (Number.isNaN(size)) throw new Error('bad chunk size');
      pos = le + 2;
      if (size === 0) {
        const end = buf.indexOf('\r\n\r\n', pos - 2);
        if (end < 0) return null;
        return { status, reason: m[2] || '', headers, body: Buffer.concat(parts), length: end + 4 };
      }
      if (buf.length < pos + size + 2) return null;
      parts.push(buf.subarray(pos, pos + size));
      pos += size + 2;
    }
  }
  if (headers['content-length'] !== undefined) {
    const len = Number(headers['content-length']);
    if (buf.length < pos + len) return null;
    return { status, reason: m[2] || '', headers, body: buf.subarray(pos, pos + len), length: pos + len };
  }
  if (!atEof) return null;
  return { status, reason: m[2] || '', headers, body: buf.subarray(pos), length: buf.length };
}

/**
 * Open a socket, write `data` (string or Buffer, or an array of parts written in order), and
 * collect everything until the server closes or timeoutMs passes. Write errors (the server may
 * answer and close before reading everything) are recorded, not thrown.
 */
export function rawExchange(port, data, { timeoutMs = 10000, host = '127.0.0.1', halfClose = false } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const chunks = [];
    let error = null;
    let done = false;
    const sock = net.connect({ port, host });
    const timer = setTimeout(() => finish(false), timeoutMs);
    function finish(closed) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const raw = Buffer.concat(chunks);
      let response = null;
      try { response = raw.length ? parseHttpResponse(raw, { atEof: true }) : null; } catch (e) { error = error || e; }
      resolve({ raw, text: raw.toString('latin1'), response, closed, error, ms: Date.now() - t0 });
    }
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', (e) => { error = error || e; });
    sock.on('close', () => finish(true));
    sock.on('connect', () => {
      const parts = Array.isArray(data) ? data : [data];
      for (const p of parts) sock.write(p, (e) => { if (e) error = error || e; });
      if (halfClose) sock.end();
    });
  });
}

/** A keep-alive HTTP/1.1 connection on which requests are sent one after another. */
export class RawHttpConn {
  static open(port, { host = '127.0.0.1', timeoutMs = 5000 } = {}) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host });
      const timer = setTimeout(() => { sock.destroy(); reject(new Error('connect timeout')); }, timeoutMs);
      sock.once('connect', () => { clearTimeout(timer); resolve(new RawHttpConn(sock, port)); });
      sock.once('error', (e) => { clearTimeout(timer); reject(e); });
    });
  }

  constructor(sock, port) {
    this.sock = sock;
    this.port = port;
    this.buf = Buffer.alloc(0);
    this.closed = false;
    this.waiter = null;
    sock.on('data', (c) => { this.buf = Buffer.concat([this.buf, c]); this.#kick(); });
    sock.on('close', () => { this.closed = true; this.#kick(); });
    sock.on('error', () => { /* surfaced through close */ });
  }

  #kick() { if (this.waiter) this.waiter(); }

  /** Wait for data or close, bounded. Resolves true if anything arrived. */
  waitForData(timeoutMs) {
    if (this.buf.length || this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiter = null; resolve(false); }, timeoutMs);
      this.waiter = () => { clearTimeout(timer); this.waiter = null; resolve(true); };
    });
  }

  /** Read one response (whatever is already buffered counts). */
  readResponse({ timeoutMs = 10000, headRequest = false } = {}) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiter = null; reject(new Error(`no complete response within ${timeoutMs} ms; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`)); }, timeoutMs);
      const attempt = () => {
        let r;
        try { r = parseHttpResponse(this.buf, { atEof: this.closed, headRequest }); } catch (e) {
          clearTimeout(timer); this.waiter = null; reject(e); return;
        }
        if (r) {
          clearTimeout(timer);
          this.waiter = null;
          this.buf = this.buf.subarray(r.length);
          const text = r.body.toString('utf8');
          resolve({ ...r, text, json: tryJson(text) });
          return;
        }
        if (this.closed) {
          clearTimeout(timer);
          this.waiter = null;
          reject(new Error(`connection closed before a complete response; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`));
        }
      };
      this.waiter = attempt;
      attempt();
    });
  }

  async request({ method = 'GET', path = '/', headers = {}, body, timeoutMs = 10000 }) {
    const b = body === undefined ? null : Buffer.from(body);
    let head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    if (b) head += `Content-Length: ${b.length}\r\n`;
    head += '\r\n';
    this.sock.write(b ? Buffer.concat([Buffer.from(head, 'latin1'), b]) : Buffer.from(head, 'latin1'));
    return this.readResponse({ timeoutMs, headRequest: method === 'HEAD' });
  }

  close() { this.sock.destroy(); }
}
