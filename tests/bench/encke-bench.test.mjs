// Smoke test of the load generator against the real server: a few seconds of traffic over each
// transport, and the checks that keep encke-bench honest (it counts what arrived, finds loss,
// refuses bad flags). Never a timing assertion: speed is measured by bench/compare, not by CI.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { startServer, stopClean, makeTempDir, REPO_ROOT } from '../integration/lib/server.mjs';

function benchBin() {
  const b = process.env.ENCKE_BENCH_BIN || 'build/release/bench/encke-bench';
  return path.isAbsolute(b) ? b : path.resolve(REPO_ROOT, b);
}

// Runs encke-bench to completion (bounded); resolves {code, stdout, stderr, report}.
function runBench(args, { timeoutMs = 60000 } = {}) {
  const dir = makeTempDir('encke-bench-');
  const json = path.join(dir, 'report.json');
  return new Promise((resolve, reject) => {
    const child = spawn(benchBin(), [...args, '--json', json], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`encke-bench ran past ${timeoutMs} ms\n${stdout}\n${stderr}`)); }, timeoutMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      let report = null;
      if (fs.existsSync(json)) report = JSON.parse(fs.readFileSync(json, 'utf8'));
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ code, stdout, stderr, report });
    });
  });
}

describe('encke-bench against encke', () => {
  let server;
  after(async () => { if (server) await stopClean(server); });

  for (const transport of ['websocket', 'long-polling']) {
    test(`${transport}: every message published reaches every subscriber, in order, once`, async () => {
      server ??= await startServer({ config: { server: { threads: 1 } } });
      const r = await runBench(['--url', server.url, '--transport', transport, '--subscribers', '60',
        '--channels', '6', '--channels-per-subscriber', '2', '--publishers', '2', '--rate', '200',
        '--warmup', '0.5', '--duration', '1.5', '--settle', '0.2', '--server-pid', String(server.pid)]);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const rep = r.report;
      assert.equal(rep.connect.subscribers, 60);
      assert.equal(rep.connect.failed, 0);
      // 60 subscribers × 2 channels of 6: 20 per channel; ~400 publishes → thousands of deliveries.
      assert.ok(rep.steps[0].published > 100, `published ${rep.steps[0].published}`);
      assert.ok(rep.integrity.received > 2000, `received ${rep.integrity.received}`);
      assert.equal(rep.integrity.received, rep.integrity.expected);
      assert.equal(rep.integrity.lost, 0);
      assert.equal(rep.integrity.duplicates, 0);
      assert.equal(rep.integrity.reordered, 0);
      assert.ok(rep.steps[0].latency_us.p50 > 0);
      assert.ok(rep.steps[0].server_cpu_s !== null && rep.server.rss_connected_kib > 0);
      assert.equal(rep.ok, true);
    });
  }

  test('capacity mode: one broadcast reaches every idle subscriber', async () => {
    server ??= await startServer({ config: { server: { threads: 1 } } });
    const r = await runBench(['--url', server.url, '--capacity', '300', '--settle', '0.2',
      '--server-pid', String(server.pid)]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal(r.report.capacity.connections, 300);
    assert.equal(r.report.capacity.received, 300);
    assert.ok(r.report.capacity.rss_per_connection_bytes > 0);
  });

  test('a server that loses messages is reported as a failure (exit 1)', async () => {
    // A session whose queue bound is tiny is cut off by the server: its messages are lost, and the
    // generator must say so rather than report a clean run.
    const lossy = await startServer({ config: { server: { threads: 1 }, bayeux: { max_queue_bytes: 1024 } } });
    try {
      const r = await runBench(['--url', lossy.url, '--transport', 'long-polling', '--subscribers', '20',
        '--channels', '1', '--rate', '3000', '--payload', '400', '--warmup', '0.2', '--duration', '1',
        '--settle', '0.2', '--drain', '1']);
      assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
      assert.equal(r.report.ok, false);
      assert.ok(r.report.integrity.lost > 0 || r.report.integrity.rehandshakes > 0);
    } finally {
      await stopClean(lossy);
    }
  });
});

describe('encke-bench refuses bad input with one line and exit 2', () => {
  for (const [name, args] of [
    ['a URL that is not http://', ['--url', 'ftp://x/y']],
    ['a host that is not an IPv4 address', ['--url', 'http://example.com:80/cometd']],
    ['a rate list with a non-number', ['--url', 'http://127.0.0.1:1/cometd', '--rate', '100,abc']],
    ['more channels per subscriber than channels', ['--url', 'http://127.0.0.1:1/cometd', '--channels', '2', '--channels-per-subscriber', '3']],
    ['an unknown flag', ['--url', 'http://127.0.0.1:1/cometd', '--bogus']],
    ['both --rate and --delivery-rate', ['--url', 'http://127.0.0.1:1/cometd', '--rate', '1', '--delivery-rate', '1']],
  ]) {
    test(name, async () => {
      const r = await runBench(args, { timeoutMs: 10000 });
      assert.equal(r.code, 2, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /^encke-bench: /);
    });
  }

  test('no server listening: exit 3', async () => {
    const r = await runBench(['--url', 'http://127.0.0.1:1/cometd', '--subscribers', '3'], { timeoutMs: 60000 });
    assert.equal(r.code, 3, r.stderr);
  });
});
