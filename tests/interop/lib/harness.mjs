// Shared helpers for the interop suite: start/stop the encke binary, bounded waits, test data.
//
// The binary is $ENCKE_BIN, default <repo>/build/release/encke. Every server is started on
// 127.0.0.1 with a temporary config that shortens the connect hold, and is stopped by PID.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const ENCKE_BIN = process.env.ENCKE_BIN
  ? path.resolve(process.env.ENCKE_BIN)
  : path.join(REPO_ROOT, 'build/release/encke');

// Resolve npm packages the way the test files do (repo root node_modules).
export const requireFromRepo = createRequire(path.join(REPO_ROOT, 'tests/interop/lib/harness.mjs'));
export function packageDir(name) {
  return path.dirname(requireFromRepo.resolve(`${name}/package.json`));
}

export const WAIT_MS = Number(process.env.INTEROP_WAIT_MS || 20000);
export const DEBUG = !!process.env.INTEROP_DEBUG;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `pred` until it returns truthy; throws after `timeout` ms with `what` and optional detail(). */
export async function waitFor(pred, what, { timeout = WAIT_MS, interval = 10, detail } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) {
      const extra = detail ? `\n${typeof detail === 'function' ? detail() : detail}` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${extra}`);
    }
    await sleep(interval);
  }
}

/** Races a promise against a timeout. */
export function within(promise, what, timeout = WAIT_MS) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeout} ms: ${what}`)), timeout);
    }),
  ]).finally(() => clearTimeout(timer));
}

export function uniq(prefix = 'c') {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e9).toString(36)}`;
}

// Temporary folders removed when the test process exits.
const tempDirs = [];
process.on('exit', () => {
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
});
export function tempDir(prefix) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

/** Default test config: short hold so that restarts and timeouts stay fast. */
export function writeConfig(extra = '') {
  const dir = tempDir('encke-interop-cfg-');
  const file = path.join(dir, 'encke.toml');
  fs.writeFileSync(
    file,
    [
      '[server]',
      'shutdown_timeout_ms = 1000',
      '',
      '[bayeux]',
      'timeout_ms = 5000',
      'max_interval_ms = 10000',
      '',
      '[log]',
      `level = "${process.env.INTEROP_LOG_LEVEL || 'info'}"`,
      '',
      extra,
    ].join('\n'),
  );
  return { dir, file };
}

const LISTEN_RE = /listening on http:\/\/[\d.]+:(\d+)\//;

/**
 * Starts `encke serve` and resolves once it printed its listening line.
 * opts: { port = 0, threads, webRoot, config (path), extraArgs }
 */
export async function startServer(opts = {}) {
  if (!fs.existsSync(ENCKE_BIN)) {
    throw new Error(`encke binary not found at ${ENCKE_BIN} (build it, or set ENCKE_BIN)`);
  }
  const args = ['serve', '--listen', `127.0.0.1:${opts.port || 0}`, '--path', '/cometd'];
  if (opts.config) args.push('--config', opts.config);
  const threads = process.env.INTEROP_THREADS ? Number(process.env.INTEROP_THREADS) : opts.threads;
  if (threads) args.push('--threads', String(threads));
  if (opts.webRoot) args.push('--web-root', opts.webRoot);
  if (opts.extraArgs) args.push(...opts.extraArgs);

  const child = spawn(ENCKE_BIN, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const srv = {
    child,
    pid: child.pid,
    args,
    opts,
    port: 0,
    url: '',
    stdout: '',
    stderr: '',
    exit: null, // { code, signal } once exited
    exited: null,
  };
  srv.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      srv.exit = { code, signal };
      resolve(srv.exit);
    });
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    srv.stderr += d;
    if (srv.stderr.length > 200000) srv.stderr = srv.stderr.slice(-100000);
    if (DEBUG) process.stderr.write(`[encke ${srv.pid}] ${d}`);
  });
  child.stdout.setEncoding('utf8');
  const listening = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      srv.stdout += d;
      const m = LISTEN_RE.exec(srv.stdout);
      if (m && !srv.port) {
        srv.port = Number(m[1]);
        resolve();
      }
    });
    child.on('error', reject);
    srv.exited.then((e) =>
      reject(new Error(`encke exited before listening (code ${e.code}, signal ${e.signal}); args ${args.join(' ')}\nstderr:\n${srv.stderr.slice(-4000)}`)),
    );
  });
  try {
    await within(listening, `encke to print its listening line (args ${args.join(' ')})`);
  } catch (e) {
    if (!srv.exit) child.kill('SIGKILL');
    throw e;
  }
  srv.base = `http://127.0.0.1:${srv.port}`;
  srv.url = `${srv.base}/cometd`;
  srv.wsUrl = `ws://127.0.0.1:${srv.port}/cometd`;
  srv.logTail = (n = 3000) => srv.stderr.slice(-n);
  return srv;
}

/** SIGTERM by PID, wait (bounded), SIGKILL as a last resort. Resolves to { code, signal, killed }. */
export async function stopServer(srv, { timeout = 10000 } = {}) {
  if (!srv) return null;
  if (srv.exit) return { ...srv.exit, killed: false };
  try {
    process.kill(srv.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  let timer;
  const res = await Promise.race([
    srv.exited,
    new Promise((r) => {
      timer = setTimeout(() => r(null), timeout);
    }),
  ]);
  clearTimeout(timer);
  if (res) return { ...res, killed: false };
  try {
    process.kill(srv.pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  const e = await srv.exited;
  return { ...e, killed: true };
}

const SANITIZER_RE = /AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error:/;

/**
 * Throws unless `stopped` (from stopServer) is a clean exit: code 0 after SIGTERM, not killed,
 * and no sanitizer report on stderr (when ENCKE_BIN is a sanitizer build).
 */
export function assertCleanExit(stopped, srv) {
  const problems = [];
  if (!stopped) return;
  if (stopped.killed) problems.push('did not stop within 10 s of SIGTERM (killed)');
  else if (stopped.code !== 0) problems.push(`exit code ${stopped.code}, signal ${stopped.signal}`);
  if (SANITIZER_RE.test(srv.stderr)) problems.push('sanitizer report on stderr');
  if (problems.length) {
    throw new Error(`encke (pid ${srv.pid}) did not stop cleanly on SIGTERM: ${problems.join('; ')}\n--- stderr tail ---\n${srv.logTail(6000)}`);
  }
}

/** Stops `srv` and starts a new instance with the same options on the same port. */
export async function restartServer(srv) {
  const stopped = await stopServer(srv);
  const next = await startServer({ ...srv.opts, port: srv.port });
  return { stopped, server: next };
}

// ---------------------------------------------------------------------------------------------
// Test data

/** Strings that must survive JSON encoding on every transport unchanged. */
export const UNICODE_SAMPLE = {
  emoji: '😀🎉👩‍👩‍👧‍👦🏳️‍🌈 \u{1F680}\u{1D11E}\u{10FFFF}',
  cjk: '漢字かなカナ한국어 中文測試 𠜎𠜱𠝹',
  rtl: 'עברית العربية \u200Fמימין\u200E left \u202Eoverride\u202C',
  controls: '\u0000\u0001\u0002\u0007\b\t\n\u000B\f\r\u001B\u001F\u007F\u0080\u009F',
  separators: 'line\u2028separator paragraph\u2029separator',
  quotes: 'quote " backslash \\ slash / </script> <!-- \'single\'',
  bom: '\uFEFFbom and zero width\u200B\u200C\u200D',
  combining: 'e\u0301 n\u0303 Å Å',
  nested: { 'ключ-😀': ['值', '\u2028', { 'עברית': '\u0000' }] },
};

/** A deterministic pseudo-random string of `bytes` ASCII characters (JSON-safe and JSON-escaped mix). */
export function bigPayload(bytes = 256 * 1024, seed = 12345) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ "\\\n\t{}[],:';
  let x = seed >>> 0;
  const out = new Array(bytes);
  for (let i = 0; i < bytes; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = alphabet[(x >>> 16) % alphabet.length];
  }
  return out.join('');
}

export function bytesOf(v) {
  return Buffer.from(JSON.stringify(v), 'utf8');
}
