// Real ActiveMQ and RabbitMQ brokers for node:test files, through the functions of
// scripts/brokers.sh (the same ones a person uses by hand).
//
//   import { startActiveMQ, startRabbitMQ } from './lib/brokers.mjs';
//   const amq = await startActiveMQ();                 // free ports, a temporary state dir
//   amq.stomp                                          // { host, port, vhost } for stomp.mjs connect()
//   await amq.produce('topic://prices.EURUSD', '{"bid":1.08}', 3);   // JMS TextMessages over OpenWire
//   await amq.kill(); await amq.start();               // crash + restart (same ports, same state)
//   await amq.dispose();                               // stop and delete the state dir
//
// Each broker gets its own free ports and state dir (ENCKE_BROKER_DIR), so test files running in
// parallel, or a broker a developer runs on the default ports, do not collide. Every call is
// bounded; a start that fails or times out stops what it spawned. Brokers still running when the
// test process exits are killed (SIGKILL by PID) so that none outlives its test.
//
// Start times on a 2-core machine: ActiveMQ ≈1.2–2 s (≈3.5 s the first time after boot), RabbitMQ
// ≈6–8 s; give `before()` hooks a timeout of their own accordingly.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BROKERS_SH = path.join(REPO_ROOT, 'scripts', 'brokers.sh');

/** A TCP port that was free a moment ago on 127.0.0.1 (the kernel's pick for port 0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Run one function of scripts/brokers.sh: `bash -c 'source brokers.sh; FN ARGS...'` with env added
 * to process.env. Bounded: SIGKILL after timeoutMs (the function's own processes are then cleaned
 * up by the caller through stop_broker, since brokers.sh records PIDs as soon as it spawns them).
 * @returns {Promise<{code:number|null, signal:string|null, stdout:string, stderr:string, ms:number, timedOut:boolean}>}
 */
export function runBrokersFn(fn, args = [], { env = {}, timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    // $0 must not be the script's path: brokers.sh would take that for "run as a command".
    const child = spawn('bash', ['-c', 'source "$1" && shift && "$@"', 'brokers-test', BROKERS_SH, fn, ...args.map(String)], {
      env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    // 'exit', not 'close': a broker spawned by the function must not be able to hold us up through
    // an inherited pipe (brokers.sh redirects their output, this is belt and braces).
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      setImmediate(() => resolve({ code, signal, stdout, stderr, ms: Date.now() - t0, timedOut }));
    });
  });
}

// Brokers started by this process and not stopped yet: killed when it exits, also when it is
// stopped by a signal (the test runner cancelling a file), which skips 'exit' handlers.
const live = new Set();
function killLive() {
  for (const b of live) {
    for (const pid of b.pidsFromFile()) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  }
  live.clear();
}
process.on('exit', killLive);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killLive();
    process.kill(process.pid, sig);     // the listener is gone now: the default action ends us
  });
}

export class Broker {
  /**
   * @param {'activemq'|'rabbitmq'} name
   * @param {string} root   ENCKE_BROKER_DIR of this broker (its state is in root/name)
   * @param {object} env    the port (and persistence) variables for brokers.sh
   */
  constructor(name, root, env, { startTimeoutMs, stopTimeoutMs = 20000 } = {}) {
    this.name = name;
    this.root = root;
    this.dir = path.join(root, name);
    this.env = { ...env, ENCKE_BROKER_DIR: root };
    this.startTimeoutMs = startTimeoutMs;
    this.stopTimeoutMs = stopTimeoutMs;
    this.pids = [];
    this.startMs = null;                // how long the last start took: spawn to ready, in ms
  }

  /** PIDs in the pid file that still belong to this broker (same start time as recorded). */
  pidsFromFile() {
    let lines;
    try { lines = fs.readFileSync(path.join(this.dir, 'pids'), 'utf8').trim().split('\n'); } catch { return []; }
    const pids = [];
    for (const line of lines) {
      const [pid, start] = line.split(' ');
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        if (stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] === start) pids.push(Number(pid));
      } catch { /* gone */ }
    }
    return pids;
  }

  /** Start (or restart after stop()/kill(): same ports, same state dir). Resolves once ready. */
  async start() {
    const fn = `start_${this.name}`;
    live.add(this);
    const res = await runBrokersFn(fn, [], { env: this.env, timeoutMs: this.startTimeoutMs });
    if (res.code !== 0) {
      // brokers.sh stops what it spawned when a start fails; only a start cut short here (timeout)
      // can leave processes behind. (Not stop() otherwise: "already running" must not stop it.)
      if (res.timedOut) await this.stop().catch(() => {});
      else if (!/already running/.test(res.stderr)) live.delete(this);
      const why = res.timedOut ? `timed out after ${this.startTimeoutMs} ms` : `exit ${res.code}`;
      throw new Error(`${fn} failed (${why}):\n${res.stderr.slice(-6000)}`);
    }
    this.pids = res.stdout.trim().split(/\s+/).map(Number);
    this.startMs = Number(/ready in (\d+) ms/.exec(res.stderr)?.[1] ?? res.ms);
    return this;
  }

  /** SIGTERM (SIGKILL after 10 s); resolves once the processes are gone and the ports free. */
  async stop() {
    const res = await runBrokersFn('stop_broker', [this.name], { env: this.env, timeoutMs: this.stopTimeoutMs });
    if (res.code !== 0) throw new Error(`stop_broker ${this.name} failed (exit ${res.code}):\n${res.stderr}`);
    live.delete(this);
    this.pids = [];
  }

  /** SIGKILL: the broker dies as in a crash (connections are reset, nothing is flushed). */
  async kill() {
    const res = await runBrokersFn('kill_broker', [this.name], { env: this.env, timeoutMs: this.stopTimeoutMs });
    if (res.code !== 0) throw new Error(`kill_broker ${this.name} failed (exit ${res.code}):\n${res.stderr}`);
    live.delete(this);
    this.pids = [];
  }

  /** True while the recorded processes run. */
  async running() {
    const res = await runBrokersFn('broker_status', [this.name], { env: this.env, timeoutMs: 10000 });
    return res.code === 0;
  }

  /** Stop, then delete the state dir (logs and data). */
  async dispose() {
    await this.stop();
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  /** The broker's main log, for failure messages. */
  log() {
    const f = this.name === 'activemq' ? path.join(this.dir, 'activemq.log')
      : path.join(this.dir, 'log', 'encke@localhost.log');
    try { return fs.readFileSync(f, 'utf8'); } catch { return ''; }
  }
}

export class ActiveMQ extends Broker {
  get stompPort() { return Number(this.env.AMQ_STOMP_PORT); }
  get openwirePort() { return Number(this.env.AMQ_OPENWIRE_PORT); }
  /** connect() options for scripts/lib/stomp.mjs (ActiveMQ ignores the host header). */
  get stomp() { return { host: '127.0.0.1', port: this.stompPort, vhost: 'localhost' }; }
  get openwireUrl() { return `tcp://127.0.0.1:${this.openwirePort}`; }
  /** STOMP over TLS (started with `tls: true`) and the PEM of its self-signed certificate. */
  get stompSslPort() { return Number(this.env.AMQ_STOMP_SSL_PORT); }
  get certPem() { return path.join(this.dir, 'conf', 'broker-cert.pem'); }

  /**
   * Send count JMS TextMessages with body `message` to dest (topic://NAME, queue://NAME, or
   * /topic/NAME) with ActiveMQ's own JMS producer over OpenWire. About 1 s (a JVM start).
   * persistent: JMS delivery mode (needed for messages to outlive a persistent broker's restart).
   */
  async produce(dest, message, count = 1, { persistent = false, timeoutMs = 60000 } = {}) {
    const res = await runBrokersFn('amq_produce', [dest, message, count], {
      env: { ...this.env, AMQ_PRODUCE_PERSISTENT: String(persistent), AMQ_PRODUCE_TIMEOUT: String(Math.ceil(timeoutMs / 1000)) },
      timeoutMs: timeoutMs + 10000,
    });
    if (res.code !== 0) throw new Error(`amq_produce ${dest} failed (exit ${res.code}):\n${res.stderr}`);
  }
}

export class RabbitMQ extends Broker {
  get amqpPort() { return Number(this.env.RABBIT_PORT); }
  get stompPort() { return Number(this.env.RABBIT_STOMP_PORT); }
  /** connect() options for scripts/lib/stomp.mjs (RabbitMQ maps the host header to a vhost: '/'). */
  get stomp() { return { host: '127.0.0.1', port: this.stompPort, vhost: '/' }; }
  /** AMQP 0-9-1 and 1.0 share this port; 1.0 addresses look like /topic/<key>, /queue/<q>. */
  get amqpUrl() { return `amqp://127.0.0.1:${this.amqpPort}`; }

  /** rabbitmqctl against this broker, e.g. ctl('list_connections'), ctl('close_all_connections', 'test'). */
  async ctl(...args) {
    const res = await runBrokersFn('rabbit_ctl', args, { env: this.env, timeoutMs: 70000 });
    if (res.code !== 0) throw new Error(`rabbitmqctl ${args.join(' ')} failed (exit ${res.code}):\n${res.stderr}${res.stdout}`);
    return res.stdout;
  }
}

function tempRoot(dir) {
  return dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'encke-broker-test-'));
}

/**
 * Start ActiveMQ on free ports (or the given ones) in a temporary state dir (or `dir`).
 * persistent: KahaDB, kept across stop()/kill() + start() (durable subscriptions survive).
 */
export async function startActiveMQ({ persistent = false, dir, stompPort, openwirePort, stompSslPort, tls = false, heap = '256m', timeoutMs = 90000 } = {}) {
  const env = {
    ...(tls || stompSslPort ? { AMQ_STOMP_SSL_PORT: String(stompSslPort ?? await freePort()) } : {}),
    AMQ_STOMP_PORT: String(stompPort ?? await freePort()),
    AMQ_OPENWIRE_PORT: String(openwirePort ?? await freePort()),
    AMQ_PERSISTENT: persistent ? '1' : '0',
    AMQ_HEAP: heap,
    AMQ_START_TIMEOUT: String(Math.max(5, Math.floor(timeoutMs / 1000) - 5)),
  };
  return new ActiveMQ('activemq', tempRoot(dir), env, { startTimeoutMs: timeoutMs }).start();
}

/**
 * Start RabbitMQ (AMQP 0-9-1 + 1.0, STOMP, a private epmd) on free ports in a temporary state dir.
 * persistent: keep the Mnesia database across restarts (durable queues survive).
 */
export async function startRabbitMQ({ persistent = false, dir, port, stompPort, epmdPort, distPort, timeoutMs = 120000 } = {}) {
  const env = {
    RABBIT_PORT: String(port ?? await freePort()),
    RABBIT_STOMP_PORT: String(stompPort ?? await freePort()),
    RABBIT_EPMD_PORT: String(epmdPort ?? await freePort()),
    RABBIT_DIST_PORT: String(distPort ?? await freePort()),
    RABBIT_PERSISTENT: persistent ? '1' : '0',
    RABBIT_START_TIMEOUT: String(Math.max(10, Math.floor(timeoutMs / 1000) - 5)),
  };
  return new RabbitMQ('rabbitmq', tempRoot(dir), env, { startTimeoutMs: timeoutMs }).start();
}
