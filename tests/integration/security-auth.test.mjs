// Who may handshake: [auth] mode token, jwt (HS256, RS256) and webhook, as the real CometD client
// (npm cometd + cometd-nodejs-client) sees them, and the config mistakes that keep `encke serve`
// from starting. Tokens and JWTs are minted here with node:crypto (and once with `encke token`), so
// a server that verified its own mistakes would not pass. The webhook is a node:http server in
// this process. docs/security.md; channel rules, private messages and the API are in
// security-channels.test.mjs.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { runEncke, BASE_CONFIG, toToml } from './lib/server.mjs';
import { WsClient, HttpClient } from './lib/bayeux.mjs';
import {
  SECRET, Client, assertRefused, startSecured, stopClean, startWebhook, closedPort, json, healthz,
  mintToken, mintJwtHs256, mintJwtRs256, nowS, sleep, tempDir, waitUntil,
} from './lib/security.mjs';

after(() => Client.closeAll());

/** Subscribe, publish, receive: the session is a working one. Returns the delivery. */
async function assertWorks(c, channel = `/check/${crypto.randomBytes(4).toString('hex')}`) {
  const s = await c.subscribe(channel);
  assert.equal(s.successful, true, `${c.name}: subscribe failed: ${JSON.stringify(s)}`);
  const n = crypto.randomBytes(4).toString('hex');
  const p = await c.publish(channel, { n });
  assert.equal(p.successful, true, `${c.name}: publish failed: ${JSON.stringify(p)}`);
  return c.waitDelivery((m) => m.channel === channel && m.data.n === n, `own message on ${channel}`);
}

// ---------------------------------------------------------------- token

describe('auth mode token', () => {
  let server;
  let anonServer;
  let customServer;
  before(async () => {
    server = await startSecured({ config: { auth: { mode: 'token', secret: SECRET } } });
    anonServer = await startSecured({ config: { auth: { mode: 'token', secret: SECRET, allow_anonymous: true } } });
    customServer = await startSecured({ config: { auth: { mode: 'token', secret: SECRET, ext_field: 'credential', identity_ext_key: 'from' } } });
  });
  after(async () => {
    await Client.closeAll();
    await stopClean(server);
    await stopClean(anonServer);
    await stopClean(customServer);
  });

  test('a token minted with the secret handshakes (both transports) and the session works as its user', async () => {
    for (const transport of ['websocket', 'long-polling']) {
      const c = await Client.open(server, { transport, name: `alice-${transport}`, ext: { token: mintToken(SECRET, 'alice') } });
      const d = await assertWorks(c);
      assert.equal(d.ext && d.ext.user, 'alice', `delivery ext: ${JSON.stringify(d)}`);
      await c.close();
    }
  });

  test('a token printed by `encke token --secret` handshakes', async () => {
    const r = await runEncke(['token', '--secret', SECRET, '--user', 'cli-user'], { timeoutMs: 10000 });
    assert.equal(r.code, 0, r.stderr);
    const c = await Client.open(server, { name: 'cli-token', ext: { token: r.stdout.trim() } });
    const d = await assertWorks(c);
    assert.equal(d.ext.user, 'cli-user');
    await c.close();
  });

  test('refusals reach the handshake callback with the exact error, advice none, and no retry', async () => {
    const past = nowS() - 3600;
    const cases = [
      ['signed with another secret', { token: mintToken(`${SECRET}-other`, 'alice') }, '403::token_invalid'],
      ['signature of another payload', { token: `${mintToken(SECRET, 'alice').split('.')[0]}.${mintToken(SECRET, 'bob').split('.')[1]}` }, '403::token_invalid'],
      ['user changed after signing', { token: `${Buffer.from(JSON.stringify({ sub: 'admin', exp: nowS() + 3600 })).toString('base64url')}.${mintToken(SECRET, 'alice').split('.')[1]}` }, '403::token_invalid'],
      ['expired (exp an hour ago)', { token: mintToken(SECRET, 'alice', past) }, '403::token_expired'],
      ['garbage', { token: 'not-a-token' }, '403::token_invalid'],
      ['three parts', { token: 'a.b.c' }, '403::token_invalid'],
      ['empty string', { token: '' }, '403::token_invalid'],
      ['user id that cannot be a channel segment', { token: mintToken(SECRET, 'a/b') }, '403::token_invalid'],
      ['over 4096 bytes (well signed)', { token: mintToken(SECRET, 'alice', nowS() + 3600, { pad: 'p'.repeat(4000) }) }, '403::token_invalid'],
      ['no ext at all', undefined, '403::token_missing'],
      ['ext without the token member', { auth: mintToken(SECRET, 'alice') }, '403::token_missing'],
    ];
    const before = await healthz(server);
    // Each case on its own client, concurrently: the quiet second after each refusal overlaps.
    await Promise.all(cases.map(async ([label, ext, error], i) => {
      const c = await Client.create(server, { transport: i % 2 ? 'long-polling' : 'websocket', name: label });
      await assertRefused(c, ext, error);
    }));
    const after = await healthz(server);
    assert.equal(after.auth.mode, 'token');
    assert.equal(after.auth.refused - before.auth.refused, cases.length, `healthz auth: ${JSON.stringify(after.auth)}`);
    assert.equal(after.handshakes_refused - before.handshakes_refused, cases.length);
  });

  test('a token from `encke token --ttl 1s` is refused as expired once its second has passed', async () => {
    const r = await runEncke(['token', '--secret', SECRET, '--user', 'brief', '--ttl', '1s'], { timeoutMs: 10000 });
    assert.equal(r.code, 0, r.stderr);
    const token = r.stdout.trim();
    const { exp } = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());
    await waitUntil(() => Date.now() >= exp * 1000 + 100, 'the token to expire', { timeoutMs: 3000 });
    const c = await Client.create(server, { name: 'expired-cli' });
    await assertRefused(c, { token }, '403::token_expired');
  });

  test('ext_field and identity_ext_key: the token is read from, and the user written to, the configured members', async () => {
    const token = mintToken(SECRET, 'erin');
    await assertRefused(await Client.create(customServer, { name: 'default-field' }), { token }, '403::token_missing', { quietMs: 0 });
    const c = await Client.open(customServer, { name: 'custom-field', ext: { credential: token } });
    const ch = `/custom/${crypto.randomBytes(4).toString('hex')}`;
    assert.equal((await c.subscribe(ch)).successful, true);
    assert.equal((await c.publish(ch, { n: 1 }, { from: 'mallory', user: 'kept' })).successful, true);
    const d = await c.waitDelivery((m) => m.channel === ch, 'own message');
    assert.deepEqual(d.ext, { from: 'erin', user: 'kept' }, JSON.stringify(d));
    await c.close();
  });

  test('allow_anonymous: no token gets an anonymous session; a bad token is still refused', async () => {
    const anon = await Client.open(anonServer, { name: 'anon' });
    const d = await assertWorks(anon);
    assert.ok(!d.ext || d.ext.user === undefined, `anonymous delivery carries a user: ${JSON.stringify(d)}`);
    await anon.close();
    const named = await Client.open(anonServer, { name: 'named', ext: { token: mintToken(SECRET, 'dana') } });
    assert.equal((await assertWorks(named)).ext.user, 'dana');
    await named.close();
    await assertRefused(await Client.create(anonServer, { name: 'bad' }), { token: mintToken('x'.repeat(20), 'dana') }, '403::token_invalid');
    await assertRefused(await Client.create(anonServer, { name: 'old' }), { token: mintToken(SECRET, 'dana', nowS() - 10) }, '403::token_expired', { quietMs: 0 });
  });
});

// ---------------------------------------------------------------- jwt

describe('auth mode jwt', () => {
  const ISS = 'https://id.example.test';
  const AUD = 'encke-tests';
  let hs;
  let rs;
  let rsKeys;
  let otherKeys;
  // A JWT whose claims are this exact JSON text (for duplicate members JSON.stringify cannot write).
  const mintJwtHs256Raw = (secret, claimsText) => {
    const signed = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from(claimsText).toString('base64url')}`;
    return `${signed}.${crypto.createHmac('sha256', secret).update(signed).digest('base64url')}`;
  };
  const claims = (over = {}) => ({ sub: 'alice', exp: nowS() + 600, iat: nowS(), iss: ISS, aud: AUD, ...over });

  before(async () => {
    rsKeys = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    otherKeys = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const dir = tempDir('encke-sec-jwt-');
    const pem = path.join(dir, 'public.pem');
    fs.writeFileSync(pem, rsKeys.publicKey.export({ type: 'spki', format: 'pem' }));
    hs = await startSecured({ config: { auth: { mode: 'jwt', secret: SECRET, issuer: ISS, audience: AUD, leeway_s: 30 } } });
    rs = await startSecured({ config: { auth: { mode: 'jwt', algorithm: 'RS256', public_key_file: pem, issuer: ISS, audience: AUD, leeway_s: 30 } } });
  });
  after(async () => {
    await Client.closeAll();
    await stopClean(hs);
    await stopClean(rs);
  });

  test('HS256: a valid JWT handshakes as its sub (also within the exp leeway and with aud as a list)', async () => {
    for (const [label, c] of [
      ['plain', claims()],
      ['expired 10 s ago, leeway 30 s', claims({ exp: nowS() - 10 })],
      ['aud list', claims({ aud: ['other', AUD] })],
      ['fractional exp', claims({ exp: nowS() + 600.5 })],
    ]) {
      const client = await Client.open(hs, { name: `hs-${label}`, ext: { token: mintJwtHs256(SECRET, c) } });
      assert.equal((await assertWorks(client)).ext.user, 'alice', label);
      await client.close();
    }
  });

  test('HS256: bad signature, alg none, expired, wrong issuer or audience, missing claims are refused', async () => {
    const pub = rsKeys.publicKey.export({ type: 'spki', format: 'pem' });
    const valid = mintJwtHs256(SECRET, claims());
    const [h, p] = valid.split('.');
    const cases = [
      ['bad signature', mintJwtHs256(`${SECRET}x`, claims()), '403::token_invalid'],
      ['alg none, no signature', `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p}.`, '403::token_invalid'],
      ['alg none with the HS256 signature', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.${valid.split('.')[2]}`, '403::token_invalid'],
      ['RS256 token to an HS256 server', mintJwtRs256(rsKeys.privateKey, claims()), '403::token_invalid'],
      ['HS256 signed with the public key text', mintJwtHs256(pub, claims()), '403::token_invalid'],
      ['claims swapped after signing', `${h}.${Buffer.from(JSON.stringify(claims({ sub: 'root' }))).toString('base64url')}.${valid.split('.')[2]}`, '403::token_invalid'],
      ['expired beyond the leeway', mintJwtHs256(SECRET, claims({ exp: nowS() - 120 })), '403::token_expired'],
      ['not yet valid (nbf beyond the leeway)', mintJwtHs256(SECRET, claims({ nbf: nowS() + 600 })), '403::token_invalid'],
      ['wrong issuer', mintJwtHs256(SECRET, claims({ iss: 'https://evil.example' })), '403::token_invalid'],
      ['no issuer', mintJwtHs256(SECRET, claims({ iss: undefined })), '403::token_invalid'],
      ['wrong audience', mintJwtHs256(SECRET, claims({ aud: 'someone-else' })), '403::token_invalid'],
      ['no exp', mintJwtHs256(SECRET, claims({ exp: undefined })), '403::token_invalid'],
      ['no sub', mintJwtHs256(SECRET, claims({ sub: undefined })), '403::token_invalid'],
      ['an Encke token', mintToken(SECRET, 'alice'), '403::token_invalid'],
      ['a crit header', mintJwtHs256(SECRET, claims(), { alg: 'HS256', typ: 'JWT', crit: ['exp'] }), '403::token_invalid'],
      ['sub twice', mintJwtHs256Raw(SECRET, `{"sub":"alice","sub":"root","exp":${nowS() + 600},"iss":"${ISS}","aud":"${AUD}"}`), '403::token_invalid'],
    ];
    await Promise.all(cases.map(async ([label, token, error], i) => {
      const c = await Client.create(hs, { transport: i % 2 ? 'long-polling' : 'websocket', name: label });
      await assertRefused(c, { token }, error, { quietMs: i === 0 ? 1000 : 0 });
    }));
  });

  test('RS256: a JWT signed with the private key handshakes as its sub', async () => {
    const c = await Client.open(rs, { name: 'rs-ok', transport: 'long-polling', ext: { token: mintJwtRs256(rsKeys.privateKey, claims({ sub: 'rsa-user' })) } });
    assert.equal((await assertWorks(c)).ext.user, 'rsa-user');
    await c.close();
  });

  test('RS256: another key, an HS256 token (also one keyed with the public PEM), expired, wrong iss/aud are refused', async () => {
    const pubPem = rsKeys.publicKey.export({ type: 'spki', format: 'pem' });
    const cases = [
      ['signed with another key pair', mintJwtRs256(otherKeys.privateKey, claims()), '403::token_invalid'],
      ['HS256 with the shared secret', mintJwtHs256(SECRET, claims()), '403::token_invalid'],
      ['HS256 keyed with the public PEM (alg confusion)', mintJwtHs256(pubPem, claims()), '403::token_invalid'],
      ['HS256 signature under an RS256 header', mintJwtHs256(pubPem, claims(), { alg: 'RS256', typ: 'JWT' }), '403::token_invalid'],
      ['alg none', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims())).toString('base64url')}.`, '403::token_invalid'],
      ['expired', mintJwtRs256(rsKeys.privateKey, claims({ exp: nowS() - 3600 })), '403::token_expired'],
      ['wrong issuer', mintJwtRs256(rsKeys.privateKey, claims({ iss: 'https://evil.example' })), '403::token_invalid'],
      ['wrong audience', mintJwtRs256(rsKeys.privateKey, claims({ aud: ['a', 'b'] })), '403::token_invalid'],
    ];
    await Promise.all(cases.map(async ([label, token, error], i) => {
      const c = await Client.create(rs, { transport: i % 2 ? 'long-polling' : 'websocket', name: label });
      await assertRefused(c, { token }, error, { quietMs: i === 0 ? 1000 : 0 });
    }));
  });
});

// ---------------------------------------------------------------- webhook

describe('auth mode webhook', () => {
  const TIMEOUT_MS = 400;
  const QUERY_KEY = `hook-key-${crypto.randomBytes(6).toString('hex')}`;
  const CACHE_MS = 1000;
  let hook;
  let server;
  let downServer;
  // The application: decides by ext.session.
  function answer(req, res, later) {
    const sid = req.body && req.body.ext && req.body.ext.session;
    if (typeof sid !== 'string') return json(res, 401, { reason: 'no_session' });
    if (sid.startsWith('user:')) return json(res, 200, { user: sid.slice(5) });
    if (sid === 'anonymous') return json(res, 200, {});
    if (sid === 'banned') return json(res, 403, { reason: 'banned' });
    if (sid === 'bare-401') return json(res, 401);
    if (sid === 'boom') return json(res, 500, { oops: true });
    if (sid === 'slow') return later(TIMEOUT_MS + 1200, () => json(res, 200, { user: 'late' }));
    if (sid === 'not-json') { res.writeHead(200, { 'Content-Type': 'application/json' }); return res.end('{"user":'); }
    if (sid === 'redirect') { res.writeHead(302, { Location: '/elsewhere' }); return res.end(); }
    if (sid === 'bad-user') return json(res, 200, { user: 'a/b' });
    if (sid === 'null-user') return json(res, 200, { user: null });
    if (sid === 'reason') return json(res, 403, { reason: req.body.ext.reason });
    if (sid === 'number-user') return json(res, 200, { user: 42 });
    return json(res, 403, { reason: 'unknown_session' });
  }
  const ofSession = (sid) => hook.requests.filter((r) => r.body && r.body.ext && r.body.ext.session === sid);
  // Requests whose ext is exactly {session: sid}.
  const exactly = (sid) => hook.requests.filter((r) => r.body && JSON.stringify(r.body.ext) === JSON.stringify({ session: sid }));

  before(async () => {
    hook = await startWebhook(answer);
    const auth = { mode: 'webhook', webhook_url: hook.url, webhook_timeout_ms: TIMEOUT_MS, webhook_cache_ms: CACHE_MS, webhook_headers: ['Cookie'] };
    server = await startSecured({ config: { auth } });
    downServer = await startSecured({ config: { auth: { ...auth, webhook_url: `http://127.0.0.1:${await closedPort()}/auth?key=${QUERY_KEY}` } } });
  });
  after(async () => {
    await Client.closeAll();
    await stopClean(server);
    await stopClean(downServer);
    await hook.close();
  });

  test('200 {"user"} from the application: the session is that user', async () => {
    const c = await Client.open(server, { name: 'hook-alice', ext: { session: 'user:alice' } });
    assert.equal((await assertWorks(c)).ext.user, 'alice');
    await c.close();
    const anon = await Client.open(server, { name: 'hook-anon', ext: { session: 'anonymous' } });
    const d = await assertWorks(anon);
    assert.ok(!d.ext || d.ext.user === undefined, `anonymous delivery carries a user: ${JSON.stringify(d)}`);
    await anon.close();
  });

  test('401/403 from the application: "403::<reason>" (403::refused without one), no retry', async () => {
    await Promise.all([
      assertRefused(await Client.create(server, { name: 'banned' }), { session: 'banned' }, '403::banned'),
      assertRefused(await Client.create(server, { name: 'bare', transport: 'long-polling' }), { session: 'bare-401' }, '403::refused'),
      assertRefused(await Client.create(server, { name: 'no-ext' }), undefined, '403::no_session'),
    ]);
  });

  test('a refusal reason is passed on only when it is 1-64 of [A-Za-z0-9_.-]; otherwise 403::refused', async () => {
    const cases = [['a.b-c_D9', '403::a.b-c_D9'], ['x'.repeat(64), `403::${'x'.repeat(64)}`], ['x'.repeat(65), '403::refused'],
      ['has space', '403::refused'], ['', '403::refused'], ['é', '403::refused'], ['a:b', '403::refused'], [42, '403::refused']];
    const wrong = [];
    for (const [reason, error] of cases) {
      const h = new HttpClient(server, { cookies: false });
      const { reply } = await h.handshake({ expectSuccess: false, ext: { session: 'reason', reason } });
      if (reply.error !== error) wrong.push(`${JSON.stringify(reason)}: ${JSON.stringify(reply)}`);
    }
    assert.deepEqual(wrong, []);
    const anon = await Client.open(server, { name: 'null-user', ext: { session: 'null-user' } });
    const d = await assertWorks(anon);
    assert.ok(!d.ext || d.ext.user === undefined, `200 {"user":null} gave a user: ${JSON.stringify(d)}`);
    await anon.close();
  });

  test('the webhook body: ext, only the configured headers, and the transport (long-polling and websocket)', async () => {
    // Long-polling, through the CometD client with an application cookie.
    const lp = await Client.open(server, { name: 'lp', transport: 'long-polling', headers: { Cookie: 'app_session=lp-123' }, ext: { session: 'user:lp-user', device: 'lp' } });
    const [lpReq] = ofSession('user:lp-user');
    assert.ok(lpReq, 'no webhook request');
    assert.equal(lpReq.method, 'POST');
    assert.match(lpReq.headers['content-type'] || '', /^application\/json/);
    assert.deepEqual(lpReq.body.ext, { session: 'user:lp-user', device: 'lp' });
    assert.equal(lpReq.body.transport, 'long-polling');
    assert.deepEqual(Object.keys(lpReq.body.headers), ['Cookie'], JSON.stringify(lpReq.body));
    assert.match(lpReq.body.headers.Cookie, /(^|; )app_session=lp-123(;|$)/);
    await lp.close();

    // WebSocket, through the CometD client (which sends no cookie: no headers passed on).
    const ws = await Client.open(server, { name: 'ws', transport: 'websocket', ext: { session: 'user:ws-user' } });
    const [wsReq] = ofSession('user:ws-user');
    assert.deepEqual(wsReq.body, { ext: { session: 'user:ws-user' }, headers: {}, transport: 'websocket' });
    await ws.close();

    // WebSocket whose upgrade request carried the cookie (and a header that is not configured).
    const raw = await WsClient.open(server, { headers: { Cookie: 'app_session=ws-456', 'X-Secret': 'not-forwarded' } });
    try {
      const { reply } = await raw.handshake({ ext: { session: 'user:raw-ws' } });
      assert.equal(reply.successful, true);
    } finally {
      raw.close();
    }
    const [rawReq] = ofSession('user:raw-ws');
    assert.deepEqual(rawReq.body, { ext: { session: 'user:raw-ws' }, headers: { Cookie: 'app_session=ws-456' }, transport: 'websocket' });

    // Long-polling with a JSON null ext: passed on as null.
    const before = hook.requests.length;
    const h = new HttpClient(server, { cookies: false });
    const { reply } = await h.handshake({ expectSuccess: false, ext: null });
    assert.equal(reply.error, '403::no_session');
    const nullReq = hook.requests.slice(before).find((r) => r.body && r.body.ext === null);
    assert.ok(nullReq, `no webhook request with ext null: ${JSON.stringify(hook.requests.slice(before).map((r) => r.raw))}`);
  });

  test('the application is down (closed port): 503::auth_unavailable at once, retried per advice', async () => {
    const c = await Client.create(downServer, { name: 'down' });
    const t0 = Date.now();
    const reply = await c.handshake({ session: 'user:alice' });
    const ms = Date.now() - t0;
    assert.equal(reply.successful, false);
    assert.equal(reply.error, '503::auth_unavailable');
    assert.ok(ms < TIMEOUT_MS + 300, `a refused connection took ${ms} ms to report`);
    const wire = c.received.find((e) => e.m.channel === '/meta/handshake');
    assert.deepEqual(wire.m.advice, { reconnect: 'handshake', interval: 2000 });
    // The client follows the advice: one more handshake about 2 s later (not at once).
    await waitUntil(() => c.handshakesSent().length >= 2, 'the handshake retry the advice asks for', { timeoutMs: 4000 });
    const [a, b] = c.handshakesSent();
    assert.ok(b - a >= 1800, `retried after ${b - a} ms, advice said 2000`);
    await c.close();
    const h = await healthz(downServer);
    assert.ok(h.auth.unavailable >= 1, JSON.stringify(h.auth));
    // The failure is logged, without the URL's query string (it may hold a key).
    await waitUntil(() => /auth webhook/.test(downServer.stderr()), 'a log line about the webhook', { timeoutMs: 2000 });
    assert.ok(!downServer.stderr().includes(QUERY_KEY), `the webhook URL's query was logged:\n${downServer.stderr()}`);
  });

  test('the application is slow: 503::auth_unavailable after webhook_timeout_ms, not later', async () => {
    const c = await Client.create(server, { name: 'slow' });
    const t0 = Date.now();
    const reply = await c.handshake({ session: 'slow' });
    const ms = Date.now() - t0;
    assert.equal(reply.successful, false, JSON.stringify(reply));
    assert.equal(reply.error, '503::auth_unavailable');
    assert.ok(ms >= TIMEOUT_MS - 50, `refused after ${ms} ms, before the ${TIMEOUT_MS} ms timeout`);
    assert.ok(ms < TIMEOUT_MS + 700, `refused after ${ms} ms, timeout ${TIMEOUT_MS} ms`);
    assert.equal(ofSession('slow').length, 1);
    c.cometd.disconnect();
    await c.close();
  });

  test('the application answers 500: 503::auth_unavailable, and a failure is not cached', async () => {
    for (let i = 0; i < 2; i++) {
      const c = await Client.create(server, { name: `boom${i}` });
      const reply = await c.handshake({ session: 'boom' });
      assert.equal(reply.error, '503::auth_unavailable', JSON.stringify(reply));
      c.cometd.disconnect();
      await c.close();
    }
    assert.equal(ofSession('boom').length, 2, 'a 500 answer was reused from the cache');
  });

  test('any other answer fails closed: 200 with a body that is not JSON, a redirect, a user that is no user id', async () => {
    const cases = [['not-json', /^503::auth_unavailable$/], ['redirect', /^503::auth_unavailable$/], ['bad-user', /^503::auth_unavailable$/], ['number-user', /^503::auth_unavailable$/]];
    const wrong = [];
    for (const [sid, error] of cases) {
      const h = new HttpClient(server, { cookies: false });
      const { reply } = await h.handshake({ expectSuccess: false, ext: { session: sid } });
      if (reply.successful !== false || !error.test(reply.error || '') || reply.clientId !== undefined) wrong.push(`${sid}: ${JSON.stringify(reply)}`);
      if (ofSession(sid).length !== 1) wrong.push(`${sid}: the application was asked ${ofSession(sid).length} times`);
    }
    assert.deepEqual(wrong, []);
  });

  test('answers are cached per identical request for webhook_cache_ms', async () => {
    const sid = `user:cached-${crypto.randomBytes(3).toString('hex')}`;
    const a = await Client.open(server, { name: 'cache-a', ext: { session: sid } });
    const b = await Client.open(server, { name: 'cache-b', ext: { session: sid } });
    assert.equal(exactly(sid).length, 1, 'two identical handshakes within cache_ms asked the application twice');
    assert.equal((await assertWorks(b)).ext.user, sid.slice(5), 'the cached answer did not carry the user');
    // A different request is not answered from the cache.
    const c = await Client.open(server, { name: 'cache-c', ext: { session: sid, other: 1 } });
    assert.equal(ofSession(sid).length, 2, 'a different ext was answered from the cache');
    // Refusals are cached too.
    await assertRefused(await Client.create(server, { name: 'ban1' }), { session: 'banned', n: sid }, '403::banned', { quietMs: 0 });
    await assertRefused(await Client.create(server, { name: 'ban2' }), { session: 'banned', n: sid }, '403::banned', { quietMs: 0 });
    assert.equal(hook.requests.filter((r) => r.body.ext && r.body.ext.n === sid).length, 1, 'a 403 answer was not cached');
    // Once cache_ms has passed, the application is asked again.
    await sleep(CACHE_MS + 200);
    const d = await Client.open(server, { name: 'cache-d', ext: { session: sid } });
    assert.equal(exactly(sid).length, 2, `the application was not asked again ${CACHE_MS} ms later`);
    await Promise.all([a.close(), b.close(), c.close(), d.close()]);
  });
});

// ---------------------------------------------------------------- bad config

describe('encke serve refuses a bad security config: exit 2, one line on stderr', () => {
  let dir;
  before(() => { dir = tempDir('encke-sec-bad-'); });
  const cases = [
    ['mode token without a secret', '[auth]\nmode = "token"\n', /auth\.secret/],
    ['mode token with a 15-byte secret', '[auth]\nmode = "token"\nsecret = "fifteen-bytes!!"\n', /auth\.secret.*16/],
    ['jwt RS256 with a key file that does not exist', '[auth]\nmode = "jwt"\nalgorithm = "RS256"\npublic_key_file = "missing.pem"\n', /public_key_file.*missing\.pem/],
    ['jwt RS256 with a directory as key file', '[auth]\nmode = "jwt"\nalgorithm = "RS256"\npublic_key_file = "keydir"\n', /public_key_file.*keydir/],
    ['jwt RS256 with a PEM file that holds no key', '[auth]\nmode = "jwt"\nalgorithm = "RS256"\npublic_key_file = "garbage.pem"\n', /PEM|public key/],
    ['jwt RS256 with a 1024-bit key', '[auth]\nmode = "jwt"\nalgorithm = "RS256"\npublic_key_file = "short.pem"\n', /2048/],
    ['webhook URL with a user name and password', '[auth]\nmode = "webhook"\nwebhook_url = "http://u:pw@127.0.0.1:9/auth"\n', /webhook/],
    ['owner on a pattern without {user}', '[[channel]]\npattern = "/users/*/inbox"\nsubscribe = "owner"\n', /owner|\{user\}/],
    ['owner for publish on a pattern without {user}', '[[channel]]\npattern = "/users/**"\npublish = "owner"\n', /owner|\{user\}/],
  ];
  for (const [label, text, mention] of cases) {
    test(label, async () => {
      fs.mkdirSync(path.join(dir, 'keydir'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'garbage.pem'), '-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n');
      if (!fs.existsSync(path.join(dir, 'short.pem'))) {
        const { publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
        fs.writeFileSync(path.join(dir, 'short.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
      }
      const file = path.join(dir, `${label.replace(/\W+/g, '_')}.toml`);
      fs.writeFileSync(file, toToml(BASE_CONFIG) + text);
      const r = await runEncke(['serve', '--config', file, '--listen', '127.0.0.1:0'], {
        timeoutMs: 10000, cwd: dir, killOnStdout: /listening on/,
      });
      assert.equal(r.matched, false, `${label}: the server started: ${r.stdout}`);
      assert.equal(r.code, 2, `${label}: exit ${r.code} (signal ${r.signal}); stderr: ${r.stderr}`);
      const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
      assert.equal(lines.length, 1, `${label}: stderr is not one line: ${JSON.stringify(r.stderr)}`);
      assert.match(lines[0], /^encke: /);
      assert.match(lines[0], mention);
      assert.ok(!/Sanitizer|runtime error:/.test(r.stderr), r.stderr);
    });
  }
});
