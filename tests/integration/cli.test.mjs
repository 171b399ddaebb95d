// The command line: --version, --help, config errors, port in use, signals, `encke publish`
// (Bayeux and --key), `encke token`.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
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

test('--help exits 0 and lists the serve, publish and token commands', async () => {
  const r = await runEncke(['--help'], { timeoutMs: 10000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /serve/);
  assert.match(r.stdout, /publish/);
  assert.match(r.stdout, /token/);
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

// ---------------------------------------------------------------- [auth], [[channel]], [api]

describe('auth config errors exit 2 with exactly one line on stderr', () => {
  const serve = (cfgPath) => runEncke(['serve', '--config', cfgPath, '--listen', '127.0.0.1:0'], { timeoutMs: 10000, cwd: tmp, killOnStdout: LISTENING_RE });
  const SECRET = '0123456789abcdef';
  const cases = [
    ['mode token without a secret', '[auth]\nmode = "token"\n', /auth\.secret.*16 bytes/],
    ['mode token with a short secret', '[auth]\nmode = "token"\nsecret = "short"\n', /auth\.secret.*got 5/],
    ['unknown mode', '[auth]\nmode = "oauth"\n', /auth\.mode.*oauth/],
    ['unknown [auth] key', '[auth]\nsecrett = "x"\n', /auth\.secrett/],
    ['jwt RS256 without public_key_file', '[auth]\nmode = "jwt"\nalgorithm = "RS256"\n', /auth\.public_key_file/],
    ['webhook without a URL', '[auth]\nmode = "webhook"\n', /auth\.webhook_url/],
    ['secret and secret_file both', `[auth]\nsecret = "${SECRET}"\nsecret_file = "secret.txt"\n`, /auth\.secret_file.*not both/],
    ['missing secret_file', '[auth]\nmode = "token"\nsecret_file = "no-such-secret.txt"\n', /auth\.secret_file.*no-such-secret\.txt/],
    ['leeway out of range', '[auth]\nleeway_s = 7200\n', /auth\.leeway_s/],
    ['bad webhook header name', '[auth]\nwebhook_headers = ["Set Cookie"]\n', /auth\.webhook_headers/],
    ['bad identity_ext_key', '[auth]\nidentity_ext_key = "user id"\n', /auth\.identity_ext_key/],
    ['owner without {user}', '[[channel]]\npattern = "/users/*"\nsubscribe = "owner"\n', /channel\[0\]\.subscribe.*\{user\}/],
    ['pattern not starting with /', '[[channel]]\npattern = "chat/**"\n', /channel\[0\]\.pattern/],
    ['unknown permission', '[[channel]]\npattern = "/chat/**"\npublish = "admins"\n', /channel\[0\]\.publish.*admins/],
    ['[channels] owner', '[channels]\nsubscribe = "owner"\n', /channels\.subscribe/],
    ['short API key', '[api]\nkeys = ["too-short"]\n', /api\.keys\[0\].*16 characters/],
    ['API key file without keys', '[api]\nkey_file = "empty-keys.txt"\n', /api\.key_file.*no keys/],
  ];
  before(() => {
    fs.writeFileSync(path.join(tmp, 'secret.txt'), `${SECRET}\n`);
    fs.writeFileSync(path.join(tmp, 'empty-keys.txt'), '# none yet\n\n');
  });
  for (const [label, text, mention] of cases) {
    test(label, async () => {
      const file = writeConfig(`auth_${label.replace(/\W+/g, '_')}.toml`, toToml(BASE_CONFIG) + text);
      const r = await serve(file);
      assertConfigError(r, label, mention);
      assert.ok(!r.stderr.includes('too-short'), `an API key was echoed: ${r.stderr}`);
    });
  }
  test('a valid [auth] with relative secret_file and key_file starts', async () => {
    fs.writeFileSync(path.join(tmp, 'keys.txt'), `# ops\n${SECRET}-api\n`);
    const file = writeConfig('auth_ok.toml', toToml(BASE_CONFIG) +
      '[auth]\nmode = "token"\nsecret_file = "secret.txt"\nallow_anonymous = true\n\n' +
      '[[channel]]\npattern = "/users/{user}/**"\nsubscribe = "owner"\npublish = "authenticated"\n\n' +
      '[api]\nkey_file = "keys.txt"\n');
    const server = await startServer({ configFile: file, cwd: tmp });
    await stopClean(server);
  });
});

// ---------------------------------------------------------------- encke token

const B64URL = /^[A-Za-z0-9_-]+$/;
const b64json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
const hmac = (secret, text) => crypto.createHmac('sha256', secret).update(text).digest('base64url');

function assertTokenOutput(r, label) {
  assert.equal(r.code, 0, `${label}: exit ${r.code}; stderr: ${r.stderr}`);
  assert.equal(r.stderr, '', `${label}: stderr: ${r.stderr}`);
  const lines = r.stdout.split('\n');
  assert.equal(lines.length, 2, `${label}: expected one line on stdout, got ${JSON.stringify(r.stdout)}`);
  assert.equal(lines[1], '');
  return lines[0];
}

describe('encke token', () => {
  const SECRET = 'a-secret-of-more-than-16-bytes';
  const now = () => Math.floor(Date.now() / 1000);

  test('--secret prints an Encke token: base64url payload {sub, exp} and its HMAC-SHA256', async () => {
    const t0 = now();
    const r = await runEncke(['token', '--user', 'alice', '--secret', SECRET], { timeoutMs: 10000 });
    const token = assertTokenOutput(r, 'token');
    const parts = token.split('.');
    assert.equal(parts.length, 2, `not <payload>.<signature>: ${token}`);
    assert.match(parts[0], B64URL);
    assert.match(parts[1], B64URL);
    const payload = b64json(parts[0]);
    assert.equal(payload.sub, 'alice');
    assert.ok(Math.abs(payload.exp - (t0 + 3600)) <= 5, `default ttl is 1h: exp ${payload.exp}, now ${t0}`);
    assert.equal(parts[1], hmac(SECRET, parts[0]), 'signature is not HMAC-SHA256(secret, payload)');
  });

  test('--ttl sets the expiry: s, m, h and d', async () => {
    for (const [ttl, seconds] of [['90s', 90], ['15m', 900], ['2h', 7200], ['366d', 366 * 86400]]) {
      const t0 = now();
      const r = await runEncke(['token', '--user', 'bob', '--secret', SECRET, '--ttl', ttl], { timeoutMs: 10000 });
      const payload = b64json(assertTokenOutput(r, ttl).split('.')[0]);
      assert.ok(Math.abs(payload.exp - (t0 + seconds)) <= 5, `--ttl ${ttl}: exp ${payload.exp}, now ${t0}`);
    }
  });

  test('--jwt prints an HS256 JWT with sub, exp and iat', async () => {
    const t0 = now();
    const r = await runEncke(['token', '--user', 'carol', '--secret', SECRET, '--jwt', '--ttl', '10m'], { timeoutMs: 10000 });
    const jwt = assertTokenOutput(r, 'jwt');
    const parts = jwt.split('.');
    assert.equal(parts.length, 3, `not a JWT: ${jwt}`);
    for (const p of parts) assert.match(p, B64URL);
    assert.equal(b64json(parts[0]).alg, 'HS256');
    const claims = b64json(parts[1]);
    assert.equal(claims.sub, 'carol');
    assert.ok(Math.abs(claims.exp - (t0 + 600)) <= 5, `exp ${claims.exp}`);
    assert.ok(Math.abs(claims.iat - t0) <= 5, `iat ${claims.iat}`);
    assert.equal(parts[2], hmac(SECRET, `${parts[0]}.${parts[1]}`), 'signature does not verify');
  });

  test('--config with mode token signs with the secret_file secret', async () => {
    fs.writeFileSync(path.join(tmp, 'token-secret.txt'), `${SECRET}\n`);
    const file = writeConfig('token-mode.toml', `[auth]\nmode = "token"\nsecret_file = "${path.join(tmp, 'token-secret.txt')}"\n`);
    const token = assertTokenOutput(await runEncke(['token', '--user', 'dave', '--config', file], { timeoutMs: 10000 }), 'config token');
    const [payload, sig] = token.split('.');
    assert.equal(b64json(payload).sub, 'dave');
    assert.equal(sig, hmac(SECRET, payload), 'not signed with the trimmed secret_file contents');
  });

  test('--config with mode jwt (HS256) prints a JWT carrying the issuer and audience', async () => {
    const file = writeConfig('jwt-mode.toml', `[auth]\nmode = "jwt"\nsecret = "${SECRET}"\nissuer = "https://id.example"\naudience = "encke"\n`);
    const jwt = assertTokenOutput(await runEncke(['token', '--user', 'erin', '--config', file], { timeoutMs: 10000 }), 'config jwt');
    const parts = jwt.split('.');
    assert.equal(parts.length, 3);
    const claims = b64json(parts[1]);
    assert.equal(claims.sub, 'erin');
    assert.equal(claims.iss, 'https://id.example');
    assert.equal(claims.aud, 'encke');
    assert.equal(parts[2], hmac(SECRET, `${parts[0]}.${parts[1]}`));
  });

  describe('mistakes exit 2 with one line starting "encke token: "', () => {
    const cases = [
      ['no --user', ['--secret', SECRET], /--user/],
      ['an invalid user id', ['--user', 'a/b', '--secret', SECRET], /user/],
      ['ttl without a unit', ['--user', 'u', '--secret', SECRET, '--ttl', '10'], /--ttl/],
      ['ttl with an unknown unit', ['--user', 'u', '--secret', SECRET, '--ttl', '1w'], /--ttl/],
      ['ttl of zero', ['--user', 'u', '--secret', SECRET, '--ttl', '0h'], /--ttl/],
      ['ttl over 366 days', ['--user', 'u', '--secret', SECRET, '--ttl', '367d'], /--ttl/],
      ['a short secret', ['--user', 'u', '--secret', 'short'], /--secret.*16/],
      ['neither --config nor --secret', ['--user', 'u'], /--config|--secret/],
      ['both --config and --secret', ['--user', 'u', '--secret', SECRET, '--config', 'x.toml'], /not both/],
      ['an unknown option', ['--user', 'u', '--secret', SECRET, '--bogus'], /--bogus/],
    ];
    for (const [label, args, mention] of cases) {
      test(label, async () => {
        const r = await runEncke(['token', ...args], { timeoutMs: 10000, cwd: tmp });
        assert.equal(r.code, 2, `${label}: exit ${r.code}; stdout ${r.stdout}; stderr ${r.stderr}`);
        assert.equal(r.stdout, '', `${label}: printed something: ${r.stdout}`);
        const lines = nonEmptyLines(r.stderr);
        assert.equal(lines.length, 1, `${label}: ${JSON.stringify(r.stderr)}`);
        assert.match(lines[0], /^encke token: /);
        assert.match(lines[0], mention);
      });
    }
    const modes = [
      ['none', '[auth]\nmode = "none"\n', /auth mode none has no server-side secret to sign with/],
      ['webhook', '[auth]\nmode = "webhook"\nwebhook_url = "http://127.0.0.1:9/auth"\n', /auth mode webhook has no server-side secret/],
      ['jwt RS256', '[auth]\nmode = "jwt"\nalgorithm = "RS256"\npublic_key_file = "rs256.pem"\n', /auth mode jwt.*RS256.*no server-side secret/],
      ['a bad config', '[auth]\nmode = "token"\n', /auth\.secret/],
    ];
    for (const [label, text, mention] of modes) {
      test(`--config with ${label}`, async () => {
        fs.writeFileSync(path.join(tmp, 'rs256.pem'), '-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n');
        const file = writeConfig(`token_${label.replace(/\W+/g, '_')}.toml`, text);
        const r = await runEncke(['token', '--user', 'u', '--config', file], { timeoutMs: 10000, cwd: tmp });
        assert.equal(r.code, 2, `exit ${r.code}; stdout ${r.stdout}; stderr ${r.stderr}`);
        assert.equal(r.stdout, '');
        const lines = nonEmptyLines(r.stderr);
        assert.equal(lines.length, 1, JSON.stringify(r.stderr));
        assert.match(lines[0], /^encke token: /);
        assert.match(lines[0], mention);
      });
    }
  });

  test('a token from `encke token --config` opens a session on a server in mode token', async () => {
    const file = writeConfig('token-server.toml', toToml(mergeConfig(BASE_CONFIG, { auth: { mode: 'token', secret: SECRET } })));
    const server = await startServer({ configFile: file, cwd: tmp });
    try {
      const token = assertTokenOutput(await runEncke(['token', '--user', 'frank', '--config', file], { timeoutMs: 10000 }), 'token');
      const ok = new HttpClient(server);
      const { reply } = await ok.handshake({ ext: { token } });
      assert.equal(reply.successful, true, JSON.stringify(reply));
      await ok.disconnect();
      const refused = new HttpClient(server);
      const r2 = await refused.handshake({ ext: { token: `${token}x` }, expectSuccess: false });
      assert.equal(r2.reply.successful, false, `a tampered token was accepted: ${JSON.stringify(r2.reply)}`);
    } finally {
      await stopClean(server);
    }
  });

  test('`encke publish --token` publishes as that user to a server in mode token; without it: exit 1', async () => {
    const file = writeConfig('token-publish.toml', toToml(mergeConfig(BASE_CONFIG, { auth: { mode: 'token', secret: SECRET } })));
    const server = await startServer({ configFile: file, cwd: tmp });
    try {
      const token = assertTokenOutput(await runEncke(['token', '--user', 'ops', '--config', file], { timeoutMs: 10000 }), 'token');
      const sub = new HttpClient(server);
      await sub.open({ ext: { token } });
      await sub.subscribe('/cli/as-ops');
      const url = `${server.url}`;
      const ok = await runEncke(['publish', '--url', url, '--token', token, '--channel', '/cli/as-ops', '--data', '{"n":1}'], { timeoutMs: 15000 });
      assert.equal(ok.code, 0, `exit ${ok.code}; stderr ${ok.stderr}`);
      const d = await sub.waitFor((m) => m.channel === '/cli/as-ops', { what: 'the CLI publish' });
      assert.equal(d.ext && d.ext.user, 'ops', 'delivered with the token\'s user as ext.user');
      const no = await runEncke(['publish', '--url', url, '--channel', '/cli/as-ops', '--data', '1'], { timeoutMs: 15000 });
      assert.equal(no.code, 1);
      assert.match(no.stderr, /403::token_missing/);
      await sub.disconnect();
    } finally {
      await stopClean(server);
    }
  });
});

// ---------------------------------------------------------------- encke publish --key

describe('encke publish --key (POST /api/publish)', () => {
  const KEY = 'cli-test-api-key-0123456789';
  let server;
  before(async () => { server = await startServer({ config: { api: { keys: [KEY] } } }); });
  after(async () => { await stopClean(server); });

  async function subscriber(ch) {
    const sub = new HttpClient(server);
    await sub.handshake();
    await sub.subscribe(ch);
    await sub.connect({ advice: { timeout: 0 } });
    return sub;
  }

  test('publishes through the API, prints its answer and exits 0', async () => {
    const ch = uniqChannel('cliapi');
    const sub = await subscriber(ch);
    const n = nonce();
    // The /cometd path of --url is ignored: the request goes to /api/publish.
    const r = await runEncke(['publish', '--url', server.url, '--key', KEY, '--channel', ch, '--data', JSON.stringify({ n })], { timeoutMs: 15000 });
    assert.equal(r.code, 0, `exit ${r.code}; stdout ${r.stdout}; stderr ${r.stderr}`);
    assert.match(r.stdout, /"published"\s*:\s*\d+/, `stdout: ${r.stdout}`);
    const d = await sub.waitFor((m) => m.channel === ch && m.data?.n === n);
    assert.deepEqual(d.data, { n });
    await sub.disconnect();
  });

  test('--user delivers to that user\'s sessions only, subscribed or not', async () => {
    // A server of its own: users exist only with [auth]. alice and bob hold tokens, neither
    // subscribes; only alice's session may receive the message.
    const SECRET = 'api-user-test-secret-0123';
    const file = writeConfig('api-user.toml', toToml(mergeConfig(BASE_CONFIG, {
      auth: { mode: 'token', secret: SECRET }, api: { keys: [KEY] },
    })));
    const users = await startServer({ configFile: file, cwd: tmp });
    try {
      const open = async (user) => {
        const token = assertTokenOutput(await runEncke(['token', '--user', user, '--secret', SECRET], { timeoutMs: 10000 }), user);
        const c = new HttpClient(users);
        await c.open({ ext: { token } });
        return c;
      };
      const alice = await open('alice');
      const bob = await open('bob');
      const ch = uniqChannel('cliapi');
      const n = nonce();
      const r = await runEncke(['publish', '--url', `${users.base}/api/publish`, '--key', KEY, '--user', 'alice', '--channel', ch, '--data', JSON.stringify({ n })], { timeoutMs: 15000 });
      assert.equal(r.code, 0, `exit ${r.code}; stdout ${r.stdout}; stderr ${r.stderr}`);
      assert.match(r.stdout, /"sessions"\s*:\s*1\b/, `stdout: ${r.stdout}`);
      const d = await alice.waitFor((m) => m.channel === ch && m.data?.n === n);
      assert.deepEqual(d.data, { n });
      const b = await bob.connect({ advice: { timeout: 0 } });
      assert.equal(b.reply.successful, true);
      assert.ok(!bob.deliveries.some((m) => m.channel === ch), `bob received alice's message: ${JSON.stringify(bob.deliveries)}`);
      await alice.disconnect();
      await bob.disconnect();
    } finally {
      await stopClean(users);
    }
  });

  test('a wrong key exits 1 with one line "encke publish: HTTP 401: ..."', async () => {
    const r = await runEncke(['publish', '--url', server.url, '--key', 'not-the-right-key-at-all', '--channel', '/cli/x', '--data', '1'], { timeoutMs: 15000 });
    assert.equal(r.code, 1, `exit ${r.code}; stdout ${r.stdout}; stderr ${r.stderr}`);
    const lines = nonEmptyLines(r.stderr);
    assert.equal(lines.length, 1, JSON.stringify(r.stderr));
    assert.match(lines[0], /^encke publish: HTTP 401: /);
  });

  test('a server without [api] keys answers 403: exit 1', async () => {
    const plain = await startServer();
    try {
      const r = await runEncke(['publish', '--url', plain.url, '--key', KEY, '--channel', '/cli/x', '--data', '1'], { timeoutMs: 15000 });
      assert.equal(r.code, 1, `exit ${r.code}; stdout ${r.stdout}; stderr ${r.stderr}`);
      assert.match(nonEmptyLines(r.stderr)[0] || '', /^encke publish: HTTP 403: /);
    } finally {
      await stopClean(plain);
    }
  });

  test('--user without --key exits 2 with one line', async () => {
    const r = await runEncke(['publish', '--url', server.url, '--user', 'alice', '--channel', '/cli/x', '--data', '1'], { timeoutMs: 15000 });
    assert.equal(r.code, 2, `exit ${r.code}; stdout ${r.stdout}; stderr ${r.stderr}`);
    const lines = nonEmptyLines(r.stderr);
    assert.equal(lines.length, 1, JSON.stringify(r.stderr));
    assert.match(lines[0], /^encke publish: --user needs --key/);
  });

  test('invalid --data with --key exits 2 without a request', async () => {
    const r = await runEncke(['publish', '--url', server.url, '--key', KEY, '--channel', '/cli/x', '--data', '{nope'], { timeoutMs: 15000 });
    assert.equal(r.code, 2, `exit ${r.code}; stderr ${r.stderr}`);
  });
});
