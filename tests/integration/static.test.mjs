// Static files from --web-root, path traversal, and GET /healthz.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, makeTempDir, REPO_ROOT, stopClean } from './lib/server.mjs';
import { HttpClient } from './lib/bayeux.mjs';
import { httpRequest, rawExchange } from './lib/http.mjs';

const SECRET = `SECRET-${Date.now()}-${Math.random().toString(36).slice(2)}`;
// 1x1 transparent PNG.
const PNG = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000' +
  '1f15c4890000000d49444154789c6300010000000500010d0a2db40000000049454e44ae426082', 'hex');
const FILES = {
  'index.html': '<!doctype html><title>Encke test</title><p>index</p>\n',
  'app.js': 'console.log("app");\n',
  'style.css': 'body { color: #123; }\n',
  'img.png': PNG,
  'pic.svg': '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n',
  'data.json': '{"ok":true}\n',
  'sub/page.html': '<!doctype html><p>sub page</p>\n',
};

let tmp;
let webRoot;
let server;
before(async () => {
  tmp = makeTempDir('encke-web-');
  webRoot = path.join(tmp, 'www');
  for (const [name, content] of Object.entries(FILES)) {
    fs.mkdirSync(path.dirname(path.join(webRoot, name)), { recursive: true });
    fs.writeFileSync(path.join(webRoot, name), content);
  }
  // Files beside (not inside) the web root that traversal must never reach.
  fs.writeFileSync(path.join(tmp, 'secret.txt'), `${SECRET}\n`);
  const example = fs.readFileSync(path.join(REPO_ROOT, 'encke.toml.example'), 'utf8');
  fs.writeFileSync(path.join(tmp, 'encke.toml.example'), `# ${SECRET}\n${example}`);
  server = await startServer({ args: ['--web-root', webRoot] });
});
after(async () => {
  await stopClean(server);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const get = (p, headers = {}) => httpRequest({ port: server.port, path: p, headers });

describe('static files', () => {
  const types = [
    ['/index.html', /^text\/html\b/i],
    ['/app.js', /^(text|application)\/javascript\b/i],
    ['/style.css', /^text\/css\b/i],
    ['/img.png', /^image\/png\b/i],
    ['/pic.svg', /^image\/svg\+xml\b/i],
    ['/data.json', /^application\/json\b/i],
    ['/sub/page.html', /^text\/html\b/i],
  ];
  for (const [p, re] of types) {
    test(`GET ${p} has the right content type and body`, async () => {
      const res = await get(p);
      assert.equal(res.status, 200);
      assert.match(res.headers['content-type'] || '', re);
      assert.deepEqual(res.body, Buffer.from(FILES[p.slice(1)]));
    });
  }

  test('GET / serves index.html', async () => {
    const res = await get('/');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] || '', /^text\/html\b/i);
    assert.equal(res.text, FILES['index.html']);
  });

  test('a missing file is 404', async () => {
    for (const p of ['/nope.html', '/sub/nope.js', '/no/such/dir/x.css']) {
      const res = await get(p);
      assert.equal(res.status, 404, `${p}: HTTP ${res.status}`);
    }
  });

  test('ETag and Last-Modified, 304 on If-None-Match and If-Modified-Since', async () => {
    const res = await get('/app.js');
    assert.equal(res.status, 200);
    const etag = res.headers.etag;
    const lm = res.headers['last-modified'];
    assert.ok(etag, 'no ETag');
    assert.ok(lm, 'no Last-Modified');
    assert.ok(!Number.isNaN(Date.parse(lm)), `Last-Modified is not an HTTP date: ${lm}`);
    const r1 = await get('/app.js', { 'If-None-Match': etag });
    assert.equal(r1.status, 304);
    assert.equal(r1.body.length, 0);
    assert.equal(r1.headers['content-length'], undefined, 'a 304 states no length (RFC 9110 §8.6)');
    const r1b = await get('/app.js', { 'If-None-Match': `"other", ${etag}` });
    assert.equal(r1b.status, 304, 'an ETag inside a list must match');
    const r2 = await get('/app.js', { 'If-Modified-Since': lm });
    assert.equal(r2.status, 304);
    const r3 = await get('/app.js', { 'If-None-Match': '"definitely-not-it"' });
    assert.equal(r3.status, 200);
    const r4 = await get('/app.js', { 'If-Modified-Since': 'Mon, 01 Jan 1990 00:00:00 GMT' });
    assert.equal(r4.status, 200);
    assert.equal(r4.text, FILES['app.js']);
  });

  test('a changed file gets a new ETag', async () => {
    const first = await get('/data.json');
    const file = path.join(webRoot, 'data.json');
    fs.writeFileSync(file, '{"ok":false,"changed":1}\n');
    const later = new Date(Date.now() + 5000);
    fs.utimesSync(file, later, later);
    const second = await get('/data.json');
    assert.equal(second.status, 200);
    assert.equal(second.text, '{"ok":false,"changed":1}\n');
    assert.notEqual(second.headers.etag, first.headers.etag);
    const stale = await get('/data.json', { 'If-None-Match': first.headers.etag });
    assert.equal(stale.status, 200);
    fs.writeFileSync(file, FILES['data.json']);
  });
});

describe('path traversal', () => {
  const attacks = [
    '/../encke.toml.example',
    '/../secret.txt',
    '/../../../../../../../../etc/passwd',
    '/%2e%2e/encke.toml.example',
    '/%2E%2E/secret.txt',
    '/.%2e/secret.txt',
    '/%2e./secret.txt',
    '/..%2fencke.toml.example',
    '/..%2Fsecret.txt',
    '/%2e%2e%2fsecret.txt',
    '/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/sub/../../secret.txt',
    '/sub/%2e%2e/%2e%2e/secret.txt',
    '/sub/..%2f..%2fsecret.txt',
    '/..%5csecret.txt',
    '/..%5Cencke.toml.example',
    '/%5c..%5csecret.txt',
    '/sub%5c..%5c..%5csecret.txt',
    '/..\\secret.txt',
    '//etc/passwd',
    '/%2fetc%2fpasswd',
    '/%2Fetc/passwd',
    '/%252e%252e/secret.txt',
    '/..%00/secret.txt',
    '/index.html%00.txt',
    '/%c0%ae%c0%ae/secret.txt',
    '/....//secret.txt',
    '/..;/secret.txt',
    '../secret.txt',
    'http://127.0.0.1/../secret.txt',
  ];
  for (const target of attacks) {
    test(`GET ${target} never escapes the web root`, async () => {
      const r = await rawExchange(server.port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, { timeoutMs: 5000 });
      assert.ok(r.response, `no HTTP response: ${JSON.stringify(r.text.slice(0, 200))} ${r.error?.message || ''}`);
      assert.ok([400, 403, 404].includes(r.response.status), `HTTP ${r.response.status} for ${target}`);
      assert.ok(!r.text.includes(SECRET), `${target} leaked a file outside the web root`);
      assert.ok(!/root:.*:0:0:/.test(r.text), `${target} leaked /etc/passwd`);
      assert.ok(!r.text.includes('[bayeux]'), `${target} leaked a config file`);
    });
  }
});

test('GET /healthz answers 200 JSON {status, sessions, connections, uptime_seconds}', async () => {
  const res = await get('/healthz');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'] || '', /^application\/json\b/i);
  const j = res.json;
  assert.ok(j && typeof j === 'object', res.text);
  assert.equal(typeof j.status, 'string');
  assert.equal(j.status, 'ok');
  for (const k of ['sessions', 'connections', 'uptime_seconds']) {
    assert.equal(typeof j[k], 'number', `${k}: ${res.text}`);
    assert.ok(j[k] >= 0, `${k}: ${res.text}`);
  }
  const c = new HttpClient(server);
  await c.handshake();
  const after1 = (await get('/healthz')).json;
  assert.ok(after1.sessions >= 1, `sessions after a handshake: ${JSON.stringify(after1)}`);
  assert.ok(after1.connections >= 1, `connections while a request is being served: ${JSON.stringify(after1)}`);
  await c.disconnect();
});
