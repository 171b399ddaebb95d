// Uniform wrappers around the unmodified npm clients, so the same scenarios run against each
// client × transport combination:
//   - CometD JS (`cometd@9.0.0`) under Node through `cometd-nodejs-client@2.0.0`;
//   - the Faye Node client (`faye@1.4.3`).
// Only public client APIs are used (configure/registerExtension/addListener/subscribe/... for
// CometD; Client options, disable(), addExtension(), subscribe()/withChannel() for Faye).
// Each wrapper records the wire-level messages it saw (through a client extension) so that a
// failing test can print the exact exchange, and counts raw deliveries per channel (a message
// delivered twice by the server is visible even though both clients fan one copy out to every
// matching local subscription).
import { pathToFileURL } from 'node:url';
import { DEBUG, requireFromRepo, within, WAIT_MS } from './harness.mjs';

const LOG_KEEP = 400;

function clip(m, n = 400) {
  let s;
  try {
    s = JSON.stringify(m);
  } catch {
    s = String(m);
  }
  return s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s;
}

class Recorder {
  constructor(name) {
    this.name = name;
    this.log = []; // [{t, dir, msg}]
    this.raw = new Map(); // channel -> array of data (deliveries only)
    this.rawKeys = []; // top-level field names of the first deliveries
    this.handshakes = 0;
    this.clientIds = [];
    this.connectTypes = []; // connectionType of outgoing /meta/connect
    this.metaFailures = []; // unsuccessful meta replies
    this.transportFailures = []; // client-reported transport failures (CometD /meta/unsuccessful, Faye transport:down)
  }

  /** Every protocol or transport failure this client saw, as printable strings. */
  failures() {
    return [...this.metaFailures.map((m) => `reply ${clip(m)}`), ...this.transportFailures.map((m) => `transport ${clip(m)}`)];
  }

  note(dir, m) {
    this.log.push({ t: Date.now(), dir, msg: clip(m) });
    if (this.log.length > LOG_KEEP) this.log.splice(0, this.log.length - LOG_KEEP);
    if (DEBUG) console.error(`[${this.name}] ${dir} ${clip(m, 300)}`);
    if (dir === 'out' && m.channel === '/meta/connect' && m.connectionType) {
      if (this.connectTypes[this.connectTypes.length - 1] !== m.connectionType) this.connectTypes.push(m.connectionType);
    }
    if (dir !== 'in') return;
    if (m.channel === '/meta/handshake' && m.successful) {
      this.handshakes += 1;
      this.clientIds.push(m.clientId);
    }
    if (typeof m.channel === 'string' && m.channel.startsWith('/meta/') && m.successful === false) {
      this.metaFailures.push(m);
    }
    if (typeof m.channel === 'string' && !m.channel.startsWith('/meta/') && m.data !== undefined) {
      let a = this.raw.get(m.channel);
      if (!a) this.raw.set(m.channel, (a = []));
      a.push(m.data);
      if (this.rawKeys.length < 200) this.rawKeys.push({ channel: m.channel, keys: Object.keys(m).sort() });
    }
  }

  rawCount(channel) {
    return (this.raw.get(channel) || []).length;
  }

  dump(last = 40) {
    return `--- wire log of ${this.name} (last ${last}) ---\n${this.log
      .slice(-last)
      .map((e) => `${new Date(e.t).toISOString().slice(11, 23)} ${e.dir === 'in' ? '<-' : '->'} ${e.msg}`)
      .join('\n')}`;
  }
}

// ------------------------------------------------------------------------------------------
// CometD

let cometdModule;
async function loadCometD() {
  if (!cometdModule) {
    const { adapt } = await import(pathToFileURL(requireFromRepo.resolve('cometd-nodejs-client')).href);
    // One adapt() per process: it installs window.XMLHttpRequest/WebSocket (and one shared
    // cookie jar, as in one browser).
    adapt();
    cometdModule = await import(pathToFileURL(requireFromRepo.resolve('cometd')).href);
  }
  return cometdModule;
}

export class CometDNodeClient {
  static async create(url, opts) {
    const mod = await loadCometD();
    return new CometDNodeClient(mod, url, opts);
  }

  constructor(mod, url, { transport, name = 'cometd' } = {}) {
    this.kind = 'cometd';
    this.name = name;
    this.wantedTransport = transport;
    this.rec = new Recorder(name);
    const c = (this.cometd = new mod.CometD(name));
    // Force the transport under test: keep only it registered, so a failure cannot be
    // hidden by a silent fallback.
    for (const t of c.getTransportTypes()) if (t !== transport) c.unregisterTransport(t);
    if (c.getTransportTypes().join() !== transport) {
      throw new Error(`CometD client cannot use ${transport}: registered ${c.getTransportTypes()}`);
    }
    c.configure({
      url,
      logLevel: DEBUG ? 'debug' : 'warn',
      // The client default is 8192 per message; the 256 KiB scenario needs more.
      maxSendBayeuxMessageSize: 2 * 1024 * 1024,
    });
    c.registerExtension('interop-recorder', {
      incoming: (m) => {
        this.rec.note('in', m);
        return m;
      },
      outgoing: (m) => {
        this.rec.note('out', m);
        return m;
      },
    });
    this.subs = new Set();
    this.resubscribes = 0;
    c.addListener('/meta/unsuccessful', (m) => {
      // Unsuccessful replies are already recorded by the extension; keep the client-side
      // failures (HTTP errors, timeouts, closed sockets), which carry a `failure` object.
      if (m.failure) {
        const { reason, httpCode, websocketCode, exception, connectionType } = m.failure;
        this.rec.transportFailures.push({ channel: m.channel, id: m.id, reason, httpCode, websocketCode, exception: exception && String(exception), connectionType });
      }
    });
    c.addListener('/meta/handshake', (m) => {
      // Application-level re-subscription, as CometD documents: subscriptions are cleared on
      // every handshake; subscribe again when the session was re-established.
      if (m.successful && m.reestablish) this.#resubscribeAll();
    });
  }

  #resubscribeAll() {
    this.cometd.batch(() => {
      for (const rec of this.subs) {
        rec.handle = this.cometd.subscribe(rec.channel, rec.listener, (reply) => {
          if (reply.successful) this.resubscribes += 1;
        });
      }
    });
  }

  start() {
    return within(
      new Promise((resolve) => {
        this.cometd.handshake((reply) => {
          if (reply.successful) resolve(reply);
        });
      }),
      `${this.name}: successful handshake`,
    ).catch((e) => {
      throw new Error(`${e.message}\n${this.rec.dump()}`);
    });
  }

  clientId() {
    return this.cometd.getClientId();
  }

  transportType() {
    const t = this.cometd.getTransport();
    return t && t.type;
  }

  /** Resolves when the server acknowledged the subscription. cb(channel, data, message). */
  subscribe(channel, cb) {
    const rec = { channel, cb, handle: null };
    rec.listener = (m) => cb(m.channel, m.data, m);
    this.subs.add(rec);
    return within(
      new Promise((resolve, reject) => {
        rec.handle = this.cometd.subscribe(channel, rec.listener, (reply) => {
          if (reply.successful) resolve(rec);
          else {
            this.subs.delete(rec);
            reject(new Error(`${this.name}: subscribe ${channel} failed: ${clip(reply)}`));
          }
        });
      }),
      `${this.name}: /meta/subscribe reply for ${channel}`,
    );
  }

  unsubscribe(rec) {
    this.subs.delete(rec);
    return within(
      new Promise((resolve, reject) => {
        this.cometd.unsubscribe(rec.handle, (reply) => {
          if (reply.successful) resolve(reply);
          else reject(new Error(`${this.name}: unsubscribe ${rec.channel} failed: ${clip(reply)}`));
        });
      }),
      `${this.name}: /meta/unsubscribe reply for ${rec.channel}`,
    );
  }

  /** Resolves with the publish reply when successful, rejects otherwise. */
  publish(channel, data) {
    return new Promise((resolve, reject) => {
      this.cometd.publish(channel, data, (reply) => {
        if (reply.successful) resolve(reply);
        else reject(new Error(`${this.name}: publish to ${channel} failed: ${clip(reply)}`));
      });
    });
  }

  async close() {
    if (this.cometd.isDisconnected()) return;
    await within(
      new Promise((resolve) => this.cometd.disconnect(() => resolve())),
      `${this.name}: disconnect`,
      5000,
    ).catch(() => {});
  }
}

// ------------------------------------------------------------------------------------------
// Faye

export class FayeNodeClient {
  static async create(url, opts) {
    return new FayeNodeClient(url, opts);
  }

  constructor(url, { transport, name = 'faye' } = {}) {
    this.kind = 'faye';
    this.name = name;
    this.wantedTransport = transport;
    this.rec = new Recorder(name);
    const faye = requireFromRepo('faye');
    // retry: seconds between attempts after a network error (client default 5).
    this.client = new faye.Client(url, { retry: 1 });
    // The Node client handshakes over long-polling and then upgrades to websocket unless
    // websocket is disabled.
    if (transport === 'long-polling') this.client.disable('websocket');
    else if (transport !== 'websocket') throw new Error(`Faye Node client has no ${transport}`);
    this.subAcks = 0;
    this.client.addExtension({
      incoming: (m, callback) => {
        this.rec.note('in', m);
        if (m.channel === '/meta/subscribe' && m.successful) this.subAcks += 1;
        callback(m);
      },
      outgoing: (m, callback) => {
        this.rec.note('out', m);
        callback(m);
      },
    });
    this.client.on('transport:down', () => this.rec.transportFailures.push({ event: 'transport:down', at: new Date().toISOString() }));
  }

  start() {
    return within(
      new Promise((resolve) => this.client.connect(() => resolve())),
      `${this.name}: successful handshake`,
    ).catch((e) => {
      throw new Error(`${e.message}\n${this.rec.dump()}`);
    });
  }

  clientId() {
    return this.rec.clientIds[this.rec.clientIds.length - 1];
  }

  transportType() {
    return this.rec.connectTypes[this.rec.connectTypes.length - 1];
  }

  subscribe(channel, cb) {
    const sub = this.client.subscribe(channel);
    sub.withChannel((ch, data) => cb(ch, data));
    const rec = { channel, cb, handle: sub };
    return within(
      new Promise((resolve, reject) => {
        sub.then(
          () => resolve(rec),
          (err) => reject(new Error(`${this.name}: subscribe ${channel} failed: ${clip(err)}`)),
        );
      }),
      `${this.name}: /meta/subscribe reply for ${channel}`,
    );
  }

  /** Faye gives no unsubscribe callback; wait for the /meta/unsubscribe reply on the wire. */
  unsubscribe(rec) {
    const p = new Promise((resolve, reject) => {
      const ext = {
        incoming: (m, callback) => {
          if (m.channel === '/meta/unsubscribe' && [].concat(m.subscription).includes(rec.channel)) {
            this.client.removeExtension(ext);
            if (m.successful) resolve(m);
            else reject(new Error(`${this.name}: unsubscribe ${rec.channel} failed: ${clip(m)}`));
          }
          callback(m);
        },
      };
      this.client.addExtension(ext);
    });
    rec.handle.cancel();
    return within(p, `${this.name}: /meta/unsubscribe reply for ${rec.channel}`);
  }

  publish(channel, data) {
    return new Promise((resolve, reject) => {
      this.client.publish(channel, data).then(
        () => resolve(),
        (err) => reject(new Error(`${this.name}: publish to ${channel} failed: ${clip(err)}`)),
      );
    });
  }

  async close() {
    try {
      const p = this.client.disconnect();
      if (p && p.then) await within(new Promise((r) => p.then(r, r)), `${this.name}: disconnect`, 5000).catch(() => {});
    } catch {
      /* ignore */
    }
  }
}

export const CLIENTS = {
  cometd: CometDNodeClient,
  faye: FayeNodeClient,
};

export async function makeClient(kind, url, transport, name) {
  return CLIENTS[kind].create(url, { transport, name });
}

export { WAIT_MS };
