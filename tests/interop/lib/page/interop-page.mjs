// Loaded by the browser test page (copied into a temporary web root next to
// faye-browser-min.js and the cometd package). Drives the unmodified browser clients with
// callback-polling (JSONP) as the only transport and keeps results for the test to read.
import { CometD } from './cometd-js/cometd.js';

const ENDPOINT = `${location.origin}/cometd`;
const CALLBACK_POLLING_ONLY_FAYE = ['websocket', 'eventsource', 'long-polling', 'cross-origin-long-polling'];

function clip(m, n = 300) {
  const s = JSON.stringify(m);
  return s.length > n ? `${s.slice(0, n)}…(${s.length})` : s;
}

class Rec {
  constructor(name) {
    this.name = name;
    this.log = [];
    this.raw = {}; // channel -> count of deliveries on the wire
    this.handshakes = 0;
    this.connectTypes = [];
    this.failures = []; // unsuccessful meta replies and client-side transport failures
  }

  note(dir, m) {
    this.log.push(`${new Date().toISOString().slice(11, 23)} ${dir === 'in' ? '<-' : '->'} ${clip(m)}`);
    if (this.log.length > 200) this.log.shift();
    if (dir === 'out' && m.channel === '/meta/connect') {
      if (this.connectTypes[this.connectTypes.length - 1] !== m.connectionType) this.connectTypes.push(m.connectionType);
    }
    if (dir === 'in' && m.channel === '/meta/handshake' && m.successful) {
      this.handshakes += 1;
      this.clientId = m.clientId;
    }
    if (dir === 'in' && String(m.channel).startsWith('/meta/') && m.successful === false) this.failures.push(`reply ${clip(m)}`);
    if (dir === 'in' && !String(m.channel).startsWith('/meta/') && m.data !== undefined) {
      this.raw[m.channel] = (this.raw[m.channel] || 0) + 1;
    }
  }
}

class BrowserCometD {
  constructor(name) {
    this.name = name;
    this.rec = new Rec(name);
    const c = (this.cometd = new CometD(name));
    for (const t of c.getTransportTypes()) if (t !== 'callback-polling') c.unregisterTransport(t);
    c.configure({ url: ENDPOINT, logLevel: 'warn' });
    c.registerExtension('interop-recorder', {
      incoming: (m) => (this.rec.note('in', m), m),
      outgoing: (m) => (this.rec.note('out', m), m),
    });
    c.addListener('/meta/unsuccessful', (m) => {
      if (m.failure) {
        const { reason, httpCode, exception, connectionType } = m.failure;
        this.rec.failures.push(`transport ${m.channel} ${clip({ reason, httpCode, exception: exception && String(exception), connectionType })}`);
      }
    });
  }

  start() {
    return new Promise((resolve) => {
      this.cometd.handshake((reply) => {
        if (reply.successful) resolve();
      });
    });
  }

  clientId() {
    return this.cometd.getClientId();
  }

  transportType() {
    const t = this.cometd.getTransport();
    return t && t.type;
  }

  subscribe(channel, cb) {
    return new Promise((resolve, reject) => {
      this.cometd.subscribe(
        channel,
        (m) => cb(m.channel, m.data),
        (reply) => (reply.successful ? resolve() : reject(new Error(`subscribe failed ${clip(reply)}`))),
      );
    });
  }

  publish(channel, data) {
    return new Promise((resolve, reject) => {
      this.cometd.publish(channel, data, (reply) =>
        reply.successful ? resolve() : reject(new Error(`publish failed ${clip(reply)}`)),
      );
    });
  }

  close() {
    return new Promise((resolve) => {
      if (this.cometd.isDisconnected()) return resolve();
      const t = setTimeout(resolve, 3000);
      this.cometd.disconnect(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

class BrowserFaye {
  constructor(name) {
    this.name = name;
    this.rec = new Rec(name);
    const client = (this.client = new window.Faye.Client(ENDPOINT, { retry: 1 }));
    for (const t of CALLBACK_POLLING_ONLY_FAYE) client.disable(t);
    client.addExtension({
      incoming: (m, cb) => (this.rec.note('in', m), cb(m)),
      outgoing: (m, cb) => (this.rec.note('out', m), cb(m)),
    });
    client.on('transport:down', () => this.rec.failures.push(`transport:down at ${new Date().toISOString()}`));
  }

  start() {
    return new Promise((resolve) => this.client.connect(() => resolve()));
  }

  clientId() {
    return this.rec.clientId;
  }

  transportType() {
    return this.rec.connectTypes[this.rec.connectTypes.length - 1];
  }

  subscribe(channel, cb) {
    const sub = this.client.subscribe(channel);
    sub.withChannel((ch, data) => cb(ch, data));
    return new Promise((resolve, reject) => sub.then(() => resolve(), (e) => reject(new Error(`subscribe failed ${clip(e)}`))));
  }

  publish(channel, data) {
    return new Promise((resolve, reject) =>
      this.client.publish(channel, data).then(() => resolve(), (e) => reject(new Error(`publish failed ${clip(e)}`))),
    );
  }

  close() {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, 3000);
      const p = this.client.disconnect();
      if (p && p.then) p.then(() => (clearTimeout(t), resolve()), () => (clearTimeout(t), resolve()));
      else resolve();
    });
  }
}

const clients = {};
const received = {}; // name -> channel -> [data]

function utf8ToString(b64) {
  const bin = atob(b64);
  const bytes = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

function stringToUtf8B64(s) {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

window.interop = {
  ready: true,

  async create(kind, name) {
    if (clients[name]) return { clientId: clients[name].clientId() };
    const c = kind === 'cometd' ? new BrowserCometD(name) : new BrowserFaye(name);
    clients[name] = c;
    received[name] = {};
    await c.start();
    return { clientId: c.clientId() };
  },

  async subscribe(name, channel) {
    const box = (received[name][channel] = received[name][channel] || []);
    await clients[name].subscribe(channel, (ch, data) => box.push(data));
  },

  publish(name, channel, data) {
    return clients[name].publish(channel, data);
  },

  /**
   * Publishes {seq: 0..n-1}; resolves with the failure count. sequential: wait for each
   * acknowledgement before the next publish (needed for clients that send concurrent HTTP
   * requests, whose order the server cannot know); otherwise publish in one burst.
   */
  async publishSeq(name, channel, n, sequential) {
    const ps = [];
    for (let i = 0; i < n; i++) {
      const p = clients[name].publish(channel, { seq: i });
      ps.push(p);
      if (sequential) await p.catch(() => {});
    }
    const res = await Promise.allSettled(ps);
    const failures = res.filter((r) => r.status === 'rejected').map((r) => String(r.reason && r.reason.message));
    return { failures: failures.length, first: failures.slice(0, 3) };
  },

  /** Publishes each payload of a UTF-8/base64 JSON array in order. */
  async publishB64(name, channel, b64) {
    const payloads = JSON.parse(utf8ToString(b64));
    for (const p of payloads) await clients[name].publish(channel, p);
    return payloads.length;
  },

  count(name, channel) {
    return (received[name][channel] || []).length;
  },

  seqs(name, channel) {
    return (received[name][channel] || []).map((d) => d.seq);
  },

  /** Received data of a channel as UTF-8/base64 JSON (independent of the driver's serialisation). */
  receivedB64(name, channel) {
    return stringToUtf8B64(JSON.stringify(received[name][channel] || []));
  },

  receivedJSON(name, channel) {
    return received[name][channel] || [];
  },

  rawCount(name, channel) {
    return clients[name].rec.raw[channel] || 0;
  },

  info(name) {
    const c = clients[name];
    return {
      transport: c.transportType(),
      connectTypes: c.rec.connectTypes,
      handshakes: c.rec.handshakes,
      clientId: c.clientId(),
      failures: c.rec.failures,
    };
  },

  log(name) {
    return clients[name] ? clients[name].rec.log.slice(-40).join('\n') : '';
  },

  async closeAll() {
    await Promise.all(Object.values(clients).map((c) => c.close()));
    for (const k of Object.keys(clients)) delete clients[k];
  },
};
