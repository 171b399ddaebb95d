// Start and stop the real `encke` binary for integration tests.
//
// The binary is $ENCKE_BIN (absolute, or relative to the repository root), default
// build/release/encke. Every server gets its own temporary directory with a generated TOML
// config, listens on 127.0.0.1:0 and is stopped by PID (SIGTERM, then SIGKILL after a deadline).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function enckeBin() {
  const b = process.env.ENCKE_BIN || 'build/release/encke';
  return path.isAbsolute(b) ? b : path.resolve(REPO_ROOT, b);
}

// Short timings so that the suite is fast; tests rely on these values (see TIMEOUT_MS).
export const TIMEOUT_MS = 4000;        // bayeux.timeout_ms: how long a connect is held
export const MAX_INTERVAL_MS = 1500;   // bayeux.max_interval_ms: session expiry after a connect reply

export const BASE_CONFIG = Object.freeze({
  server: { threads: 2, web_root: '', shutdown_timeout_ms: 2000 },
  bayeux: { timeout_ms: TIMEOUT_MS, max_interval_ms: MAX_INTERVAL_MS },
  log: { level: 'warn' },
});

const LISTENING_RE = /listening on http:\/\/[\d.]+:(\d+)\//;

// ---------------------------------------------------------------- TOML

function tomlValue(v) {
  if (typeof v === 'string') return JSON.stringify(v); // JSON string escapes are valid TOML basic strings
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  if (v && typeof v === 'object' && 'raw' in v) return v.raw; // verbatim TOML text, for bad-value tests
  throw new Error(`cannot encode ${JSON.stringify(v)} as TOML`);
}

/** { section: { key: value } } → TOML text. A value `{raw: "..."}` is written verbatim. */
export function toToml(cfg) {
  let out = '';
  for (const [section, kv] of Object.entries(cfg)) {
    out += `[${section}]\n`;
    for (const [k, v] of Object.entries(kv)) {
      if (v === undefined || v === null) continue;
      out += `${k} = ${tomlValue(v)}\n`;
    }
    out += '\n';
  }
  return out;
}

/** Deep merge of config objects; a `null` value removes the key. */
export function mergeConfig(base, over = {}) {
  const out = {};
  for (const [s, kv] of Object.entries(base)) out[s] = { ...kv };
  for (const [s, kv] of Object.entries(over)) {
    out[s] = { ...(out[s] || {}) };
    for (const [k, v] of Object.entries(kv)) {
      if (v === null) delete out[s][k];
      else out[s][k] = v;
    }
  }
  return out;
}

export function makeTempDir(prefix = 'encke-it-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// ---------------------------------------------------------------- process bookkeeping

const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

function waitExit(child, timeoutMs) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => { child.off('exit', onExit); resolve(null); }, timeoutMs);
    function onExit(code, signal) { clearTimeout(timer); resolve({ code, signal }); }
    child.once('exit', onExit);
  });
}

/**
 * Run the binary to completion (CLI tests). Bounded: SIGKILL after timeoutMs. With killOnStdout
 * (a RegExp), a process whose stdout matches it is stopped at once (e.g. a server that started
 * listening although it should have refused its config); `matched` is then true.
 * @returns {Promise<{code:number|null, signal:string|null, stdout:string, stderr:string, timedOut:boolean, matched:boolean}>}
 */
export function runEncke(args, { timeoutMs = 15000, cwd, env, killOnStdout } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(enckeBin(), args, {
      cwd: cwd || os.tmpdir(), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let matched = false;
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
      if (killOnStdout && !matched && killOnStdout.test(stdout)) {
        matched = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); live.delete(child); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr, timedOut, matched });
    });
  });
}

// ---------------------------------------------------------------- servers

/**
 * Start `encke serve` with a temporary config.
 * @param {object} [opts]
 * @param {object} [opts.config]   overrides merged into BASE_CONFIG
 * @param {string} [opts.listen]   --listen value (default 127.0.0.1:0)
 * @param {string[]} [opts.args]   extra command-line arguments
 * @param {string} [opts.configFile] an existing config file to use instead of a generated one
 * @param {string} [opts.cwd]     working directory (default: the server's temporary directory)
 * @param {number} [opts.readyTimeoutMs]
 */
export async function startServer(opts = {}) {
  const dir = makeTempDir();
  const config = mergeConfig(BASE_CONFIG, opts.config || {});
  let cfgPath = path.join(dir, 'encke.toml');
  if (opts.configFile) cfgPath = opts.configFile; // used as is (e.g. encke.toml.example)
  else fs.writeFileSync(cfgPath, toToml(config));
  const args = ['serve', '--config', cfgPath, '--listen', opts.listen || '127.0.0.1:0', ...(opts.args || [])];
  const child = spawn(enckeBin(), args, {
    cwd: opts.cwd || dir, env: { ...process.env, ...(opts.env || {}) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  const keepTail = (s) => (s.length > 200000 ? s.slice(-100000) : s);
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr = keepTail(stderr + d); });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => {
    live.delete(child);
    resolve({ code, signal });
  }));

  const readyTimeoutMs = opts.readyTimeoutMs ?? 20000;
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`encke did not print its listening line within ${readyTimeoutMs} ms`)), readyTimeoutMs);
    function fail(err) {
      clearTimeout(timer);
      try { child.kill('SIGKILL'); } catch { /* ignore */ }
      err.message += `\nargs: ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr.slice(-4000)}`;
      reject(err);
    }
    child.on('error', (e) => fail(e));
    child.stdout.on('data', (d) => {
      stdout = keepTail(stdout + d);
      const m = LISTENING_RE.exec(stdout);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    exited.then(({ code, signal }) => fail(new Error(`encke exited before listening (code ${code}, signal ${signal})`)));
  });

  let stopped = null;
  const server = {
    port,
    pid: child.pid,
    child,
    dir,
    configPath: cfgPath,
    config,
    base: `http://127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}/cometd`,
    wsUrl: `ws://127.0.0.1:${port}/cometd`,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    alive: () => child.exitCode === null && child.signalCode === null,
    /** Send a signal by PID; wait up to timeoutMs for exit, then SIGKILL. Resolves {code, signal, killed}. */
    stop({ signal = 'SIGTERM', timeoutMs = 8000 } = {}) {
      if (stopped) return stopped;
      stopped = (async () => {
        let res = await waitExit(child, 0);
        let killed = false;
        if (!res) {
          try { process.kill(child.pid, signal); } catch { /* gone */ }
          res = await waitExit(child, timeoutMs);
          if (!res) {
            killed = true;
            try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
            res = await waitExit(child, 5000);
          }
        }
        fs.rmSync(dir, { recursive: true, force: true });
        return { ...(res || { code: null, signal: null }), killed };
      })();
      return stopped;
    },
  };
  return server;
}

const SANITIZER_RE = /ERROR: \w+Sanitizer|SUMMARY: \w+Sanitizer|runtime error:/;

/**
 * Stop a server (SIGTERM) and assert a clean end: exit code 0, no SIGKILL needed, and no
 * AddressSanitizer/LeakSanitizer/UBSan report on its stderr (matters for the asan build).
 */
export async function stopClean(server) {
  if (!server) return;
  const res = await server.stop();
  const err = server.stderr();
  if (SANITIZER_RE.test(err)) {
    throw new Error(`sanitizer report in encke's stderr:\n${err.slice(-6000)}`);
  }
  if (res.killed || res.code !== 0) {
    throw new Error(`encke did not exit cleanly on SIGTERM: ${JSON.stringify(res)}\nstderr: ${err.slice(-3000)}`);
  }
}
