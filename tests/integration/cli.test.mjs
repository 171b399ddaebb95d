// The command line: --version, --help, config errors, port in use, signals, `encke publish`.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  startServer, stopClean, runEncke, toToml, mergeConfig, makeTempDir, BASE_CONFIG, REPO_ROOT,
} from './lib/server.mjs';
import { HttpClient, WsClient, uniqChannel, nonce } from './lib/bayeux.mjs';
import { sleep } from './lib/http.mjs';

const LISTENING_RE = /listening on http:\/\//;
let tmp;
before(() => { tmp = makeTempDir('encke-cli-'); });
after(() => { if (tmp) fs.rmSync(tmp, { recursive: true, force: true }); });

function writeConfig(name, text) {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text);
  return p;
}

function nonEmptyLines(s) {
  return s.split('\n').map((l) => l.trim()).filter(Boolean);
}

function assertConfigError(r, label, mention) {
  assert.ok(!r.matched, `${label}: encke started listening instead of refusing (stderr: ${r.stderr.slice(0, 300)})`);
  assert.ok(!r.timedOut, `${label}: encke did not exit (stdout: ${r.stdout.slice(0, 200)})`);
  assert.equal(r.code, 2, `${label}: exit code ${r.code} (signal ${r.signal}); stderr: ${r.stderr}`);
  assert.ok(!LISTENING_RE.test(r.stdout), `${label}: it started listening`);
  const lines = nonEmptyLines(r.stderr);
  assert.equal(lines.length, 1, `${label}: expected exactly one line on stderr, got ${lines.length}: ${JSON.stringify(r.stderr)}`);
  if (mention) assert.match(lines[0], mention, `${label}: the error line does not name the problem: ${lines[0]}`);
}

test('--version prints a version and exits 0', async () => {
  const r = await runEncke(['--version'], { timeoutMs: 10000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\d+\.\d+(\.\d+)?/);
});

test('--help exits 0 and lists the serve and publish commands', async () => {
  const r = await runEncke(['--help'], { timeoutMs: 10000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /serve/);
  assert.match(r.stdout, /publish/);
});

test('the documented example configuration is accepted as is', async () => {
  const server = await startServer({ configFile: path.join(REPO_ROOT, 'encke.toml.example'), cwd: REPO_ROOT });
  try {
    const c = new HttpClient(server);
    await c.handshake();
    await c.disconnect();
  } finally {
    await stopClean(server);
  }
});

describe('config errors exit 2 with exactly one line on stderr', () => {
  const serve = (cfgPath, extra = []) => runEncke(['serve', '--config', cfgPath, '--listen', '127.0.0.1:0', ...extra], { timeoutMs: 10000, cwd: tmp, killOnStdout: LISTENING_RE });
  const cases = [
    ['unknown key', { server: { bogus_key: 1 } }, /bogus_key/],
    ['unknown key in [bayeux]', { bayeux: { timeout_msec: 1000 } }, /timeout_msec/],
    ['unknown section', { bogus_section: { a: 1 } }, /bogus_section/],
    ['wrong type (string for a number)', { bayeux: { timeout_ms: 'abc' } }, /timeout_ms/],
    ['wrong type (number for a string)', { log: { level: 3 } }, /level/],
    ['negative value', { server: { max_connections: -1 } }, /max_connections/],
    ['duplicate_connect_status below 400', { bayeux: { duplicate_connect_status: 200 } }, /duplicate_connect_status/],
    ['threads above 36', { server: { threads: 37 } }, /threads/],
    ['unknown log level', { log: { level: 'loud' } }, /level/],
    ['allowed_origins not an array', { cors: { allowed_origins: '*' } }, /allowed_origins/],
  ];
  for (const [label, over, mention] of cases) {
    test(label, async () => {
      const file = writeConfig(`${label.replace(/\W+/g, '_')}.toml`, toToml(mergeConfig(BASE_CONFIG, over)));
      assertConfigError(await serve(file), label, mention);
    });
  }
  test('malformed TOML', async () => {
    const file = writeConfig('malformed.toml', '[server\nthreads = \n');
    assertConfigError(await serve(file), 'malformed TOML');
  });
  test('missing config file', async () => {
    assertConfigError(await serve(path.join(tmp, 'does-not-exist.toml')), 'missing file');
  });
  test('an invalid bridge route', async () => {
    const bridge = '[[bridge]]\nname = "activemq"\nurl = "stomp://127.0.0.1:61613"\n\n' +
      '[[bridge.route]]\nfrom = "/topic/prices.>.x"\nto = "/prices"\n';
    const file = writeConfig('bad-route.toml', toToml(BASE_CONFIG) + bridge);
    assertConfigError(await serve(file), 'bad route', /bridge activemq\.route\[0\]: from "\/topic\/prices\.>\.x" has '>' or '#' before its last segment/);
  });
  test('a bridge whose direction cannot be told', async () => {
    const bridge = '[[bridge]]\nname = "b"\nurl = "amqp://127.0.0.1"\n\n[[bridge.route]]\nfrom = "prices"\nto = "/prices"\n';
    const file = writeConfig('no-direction.toml', toToml(BASE_CONFIG) + bridge);
    assertConfigError(await serve(file), 'no direction', /cannot tell the direction/);
  });
  test('bad --listen value', async () => {
    const file = writeConfig('ok-for-listen.toml', toToml(BASE_CONFIG));
    const r = await runEncke(['serve', '--config', file, '--listen', 'not-an-address'], { timeoutMs: 10000, cwd: tmp, killOnStdout: LISTENING_RE });
    assertConfigError(r, 'bad --listen');
  });
});

describe('port in use exits 2 with one line on stderr', () => {
  test('port held by another process', async () => {
    const blocker = net.createServer();
    await new Promise((r) => blocker.listen(0, '127.0.0.1', r));
    const { port } = blocker.address();
    try {
      const file = writeConfig('port.toml', toToml(BASE_CONFIG));
      const r = await runEncke(['serve', '--config', file, '--listen', `127.0.0.1:${port}`], { timeoutMs: 10000, cwd: tmp, killOnStdout: LISTENING_RE });
      assertConfigError(r, 'port in use');
    } finally {
      blocker.close();
    }
  });
  test('port held by another encke', async () => {
    const first = await startServer();
    try {
      const file = writeConfig('port2.toml', toToml(BASE_CONFIG));
      const r = await runEncke(['serve', '--config', file, '--listen', `127.0.0.1:${first.port}`], { timeoutMs: 10000, cwd: tmp, killOnStdout: LISTENING_RE });
      assertConfigError(r, 'port used by a running encke');
      assert.ok(first.alive());
    } finally {
      await stopClean(first);
    }
  });
});

describe('signals', () => {
  test('SIGTERM answers a held long-poll connect and exits 0', async () => {
    const server = await startServer({ config: { bayeux: { timeout_ms: 20000 } } });
    try {
      const c = await new HttpClient(server).open();
      const held = c.connect({ timeoutMs: 30000, allowError: true }).then((r) => ({ ...r, doneAt: Date.now() }));
      await sleep(300);
      const tKill = Date.now();
      process.kill(server.pid, 'SIGTERM');
      const r = await held;
      assert.equal(r.res.status, 200, `held connect at shutdown: HTTP ${r.res.status} ${r.res.text}`);
      assert.ok(Array.isArray(r.res.json), r.res.text);
      assert.ok(r.res.json.some((m) => m.channel === '/meta/connect' && m.id === r.id), `no connect reply: ${r.res.text}`);
      assert.ok(r.doneAt - tKill < 3000, `held connect answered ${r.doneAt - tKill} ms after SIGTERM`);
      const exit = await Promise.race([server.exited, sleep(6000).then(() => null)]);
      assert.ok(exit, 'encke did not exit within 6 s of SIGTERM');
      assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}; stderr: ${server.stderr().slice(-2000)}`);
      assert.doesNotMatch(server.stderr(), /ERROR: \w+Sanitizer|runtime error:/, 'sanitizer report on shutdown');
    } finally {
      await server.stop();
    }
  });

  test('SIGINT answers held connects on HTTP and WebSocket, closes sockets and exits 0', async () => {
    const server = await startServer({ config: { bayeux: { timeout_ms: 20000 } } });
    try {
      const c = await new HttpClient(server).open();
      const heldHttp = c.connect({ timeoutMs: 30000, allowError: true });
      const ws = await WsClient.open(server);
      await ws.open();
      const heldWs = ws.connect({ timeoutMs: 30000 });
      await sleep(300);
      process.kill(server.pid, 'SIGINT');
      const r = await heldHttp;
      assert.equal(r.res.status, 200, `HTTP ${r.res.status}`);
      assert.ok(r.res.json.some((m) => m.channel === '/meta/connect' && m.id === r.id), r.res.text);
      const w = await heldWs.reply;
      assert.equal(w.reply.id, heldWs.id);
      const closed = await ws.waitClose({ timeoutMs: 6000 });
      assert.ok(closed);
      const exit = await Promise.race([server.exited, sleep(6000).then(() => null)]);
      assert.ok(exit, 'encke did not exit within 6 s of SIGINT');
      assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}`);
      assert.doesNotMatch(server.stderr(), /ERROR: \w+Sanitizer|runtime error:/, 'sanitizer report on shutdown');
    } finally {
      await server.stop();
    }
  });
});

describe('encke publish', () => {
  let server;
  before(async () => { server = await startServer(); });
  after(async () => { await stopClean(server); });

  test('publishes a message that reaches a subscriber and exits 0', async () => {
    const ch = uniqChannel('cli');
    const sub = new HttpClient(server);
    await sub.handshake();
    await sub.subscribe(ch);
    await sub.connect({ advice: { timeout: 0 } });
    const n = nonce();
    const r = await runEncke(['publish', '--url', server.url, '--channel', ch, '--data', JSON.stringify({ n, text: 'from the CLI' })], { timeoutMs: 15000 });
    assert.equal(r.code, 0, `exit ${r.code}; stdout ${r.stdout}; stderr ${r.stderr}`);
    assert.match(r.stdout, /"successful"\s*:\s*true/, `stdout: ${r.stdout}`);
    const d = await sub.waitFor((m) => m.channel === ch && m.data?.n === n);
    assert.deepEqual(d.data, { n, text: 'from the CLI' });
    await sub.disconnect();
  });

  test('a refused publish exits non-zero', async () => {
    const r = await runEncke(['publish', '--url', server.url, '--channel', '/a/*', '--data', '{"x":1}'], { timeoutMs: 15000 });
    assert.ok(!r.timedOut, 'encke publish hung');
    assert.notEqual(r.code, 0, `stdout ${r.stdout}`);
  });

  test('invalid --data JSON exits non-zero', async () => {
    const r = await runEncke(['publish', '--url', server.url, '--channel', '/cli/x', '--data', '{not json'], { timeoutMs: 15000 });
    assert.ok(!r.timedOut, 'encke publish hung');
    assert.notEqual(r.code, 0);
  });

  test('an unreachable server exits non-zero', async () => {
    const blocker = net.createServer();
    await new Promise((res) => blocker.listen(0, '127.0.0.1', res));
    const { port } = blocker.address();
    await new Promise((res) => blocker.close(res)); // the port is now (almost certainly) closed
    const r = await runEncke(['publish', '--url', `http://127.0.0.1:${port}/cometd`, '--channel', '/cli/x', '--data', '1'], { timeoutMs: 15000 });
    assert.ok(!r.timedOut, 'encke publish hung on an unreachable server');
    assert.notEqual(r.code, 0);
  });
});
