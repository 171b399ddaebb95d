// What a session may do once in: [[channel]] rules for subscribe and publish (wildcard
// subscriptions included), private messages between users with the identity the server stamps
// on deliveries, and the backend's POST /api/publish (and `encke publish --key`). Clients are the
// real CometD client (npm cometd + cometd-nodejs-client) over both transports; tokens are minted
// with node:crypto. docs/security.md; handshake authentication is in security-auth.test.mjs.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { runEncke } from './lib/server.mjs';
import { WsClient } from './lib/bayeux.mjs';
import {
  SECRET, Client, startSecured, stopClean, apiPublish, healthz, mintToken, sleep, waitUntil,
} from './lib/security.mjs';

const SETTLE_MS = 300; // after the last expected delivery: time for an unexpected one to show up
const tag = () => crypto.randomBytes(4).toString('hex');
const hasUser = (m) => !!(m.ext && Object.prototype.hasOwnProperty.call(m.ext, 'user'));

after(() => Client.closeAll());

/**
 * Open the named clients one after another (cometd-nodejs-client shares one cookie jar: two
 * long-polling handshakes at the same moment would overwrite each other's browser cookie).
 * specs: {name: {user|null, transport}}
 */
async function openAll(server, specs) {
  const out = {};
  for (const [name, { user, transport = 'websocket' }] of Object.entries(specs)) {
    out[name] = await Client.open(server, { name, transport, ext: user ? { token: mintToken(SECRET, user) } : undefined });
  }
  return out;
}

// ---------------------------------------------------------------- channel rules

describe('channel rules', () => {
  let server;
  let c; // anon (websocket), alice (websocket), bob (long-polling)
  before(async () => {
    server = await startSecured({
      config: {
        auth: { mode: 'token', secret: SECRET, allow_anonymous: true },
        channels: { subscribe: 'anyone', publish: 'authenticated' },
      },
      rules: [
        { pattern: '/users/{user}/**', subscribe: 'owner', publish: 'authenticated' },
        { pattern: '/admin/**', subscribe: 'none', publish: 'none' },
        { pattern: '/members/**', subscribe: 'authenticated', publish: 'authenticated' },
        { pattern: '/open/**', subscribe: 'anyone', publish: 'anyone' },
        { pattern: '/inbox/{user}', subscribe: 'owner', publish: 'owner' },
      ],
    });
    c = await openAll(server, {
      anon: { user: null },
      alice: { user: 'alice' },
      bob: { user: 'bob', transport: 'long-polling' },
    });
  });
  after(async () => {
    await Client.closeAll();
    await stopClean(server);
  });

  test('subscribe: owner, authenticated, none, anyone and the [channels] default, wildcards judged literally', async () => {
    const table = [
      // channel, who may subscribe (the others are refused)
      ['/users/alice/inbox', ['alice']],
      ['/users/alice/deep/er', ['alice']],
      ['/users/alice/*', ['alice']],
      ['/users/alice/**', ['alice']],
      ['/users/bob/inbox', ['bob']],
      ['/admin/news', []],
      ['/admin/**', []],
      ['/members/chat', ['alice', 'bob']],
      ['/members/**', ['alice', 'bob']],
      ['/open/lobby', ['anon', 'alice', 'bob']],
      ['/inbox/alice', ['alice']],
      ['/inbox/*', []],
      ['/misc/thing', ['anon', 'alice', 'bob']], // no rule: [channels] subscribe = anyone
      ['/users/**', ['anon', 'alice', 'bob']], // no rule matches the name; deliveries are filtered (next test)
      ['/**', ['anon', 'alice', 'bob']],
    ];
    const wrong = [];
    for (const [channel, allowed] of table) {
      for (const who of ['anon', 'alice', 'bob']) {
        const reply = await c[who].subscribe(channel);
        const want = allowed.includes(who);
        if (reply.successful !== want) wrong.push(`${who} subscribe ${channel}: ${JSON.stringify(reply)}`);
        else if (!want && reply.error !== '403::subscribe_denied') {
          wrong.push(`${who} subscribe ${channel}: error ${reply.error}, expected 403::subscribe_denied`);
        }
      }
    }
    // Names with a wildcard before the last segment are no Bayeux channel: refused as such
    // (so `/users/*/inbox` cannot be the way around the owner rule either).
    for (const channel of ['/users/*/inbox', '/users/*/**', '/users/**/x']) {
      for (const who of ['anon', 'alice', 'bob']) {
        const reply = await c[who].subscribe(channel);
        if (reply.successful !== false || reply.error !== '405::channel_invalid') wrong.push(`${who} subscribe ${channel}: ${JSON.stringify(reply)}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  test('publish: owner, authenticated, none, anyone and the [channels] default', async () => {
    const table = [
      ['/users/bob/inbox', ['alice', 'bob']],
      ['/users/alice/inbox', ['alice', 'bob']],
      ['/admin/news', []],
      ['/members/chat', ['alice', 'bob']],
      ['/open/lobby', ['anon', 'alice', 'bob']],
      ['/inbox/alice', ['alice']],
      ['/inbox/bob', ['bob']],
      ['/misc/thing', ['alice', 'bob']], // no rule: [channels] publish = authenticated
      ['/service/echo', ['alice', 'bob']], // rules cover /service/ publishes too
    ];
    const wrong = [];
    for (const [channel, allowed] of table) {
      for (const who of ['anon', 'alice', 'bob']) {
        const reply = await c[who].publish(channel, { who });
        const want = allowed.includes(who);
        if (reply.successful !== want) wrong.push(`${who} publish ${channel}: ${JSON.stringify(reply)}`);
        else if (!want && reply.error !== '403::publish_denied') wrong.push(`${who} publish ${channel}: error ${reply.error}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  test('a refused publish reaches nobody', async () => {
    const spy = await Client.open(server, { name: 'spy', ext: { token: mintToken(SECRET, 'spy') } });
    assert.equal((await spy.subscribe('/admin/**')).successful, false);
    assert.equal((await spy.subscribe('/**')).successful, true);
    const t = tag();
    assert.equal((await c.anon.publish('/members/chat', { t })).error, '403::publish_denied');
    assert.equal((await c.alice.publish('/admin/news', { t })).error, '403::publish_denied');
    assert.equal((await c.alice.publish('/open/after', { t })).successful, true);
    await spy.waitDelivery((m) => m.channel === '/open/after' && m.data.t === t, 'the marker');
    await sleep(SETTLE_MS);
    assert.deepEqual(spy.deliveries.filter((m) => m.data && m.data.t === t).map((m) => m.channel), ['/open/after']);
    await spy.close();
  });

  test('wildcards (/users/*, /users/**, /**) of others receive nothing under /users/alice/**; alice\'s own do, once', async () => {
    const subs = await openAll(server, {
      anonW: { user: null },
      bobW: { user: 'bob', transport: 'long-polling' },
      carolW: { user: 'carol' },
      aliceExact: { user: 'alice' },
      aliceWild: { user: 'alice', transport: 'long-polling' },
    });
    const want = {
      anonW: ['/users/*', '/users/**', '/**', '/open/**'],
      bobW: ['/users/**', '/**', '/users/bob/**'],
      carolW: ['/**'],
      aliceExact: ['/users/alice/inbox', '/open/**'],
      aliceWild: ['/users/alice/**', '/users/**', '/**'],
    };
    for (const [name, channels] of Object.entries(want)) {
      for (const ch of channels) {
        const r = await subs[name].subscribe(ch);
        assert.equal(r.successful, true, `${name} ${ch}: ${JSON.stringify(r)}`);
      }
    }
    // Refused for bob, so they cannot be the way in either.
    assert.equal((await subs.bobW.subscribe('/users/alice/*')).error, '403::subscribe_denied');
    assert.equal((await subs.bobW.subscribe('/users/alice/**')).error, '403::subscribe_denied');

    const t = tag();
    assert.equal((await c.bob.publish('/users/alice/inbox', { t, n: 1 })).successful, true);
    assert.equal((await c.bob.publish('/users/alice/deep/path', { t, n: 2 })).successful, true);
    assert.equal((await c.bob.publish('/open/marker', { t, n: 3 })).successful, true);
    // Every subscriber is live: each receives the marker (aliceWild through /**).
    for (const name of ['anonW', 'bobW', 'carolW', 'aliceExact', 'aliceWild']) {
      await subs[name].waitDelivery((m) => m.channel === '/open/marker' && m.data.t === t, 'the marker');
    }
    await subs.aliceWild.waitDelivery((m) => m.channel === '/users/alice/deep/path' && m.data.t === t, 'the deep message');
    await sleep(SETTLE_MS);
    const ofT = (name, ch) => subs[name].got(ch, (m) => m.data && m.data.t === t).length;
    for (const name of ['anonW', 'bobW', 'carolW']) {
      assert.equal(ofT(name, '/users/alice/inbox'), 0, `${name} received alice's inbox\n${subs[name].dump()}`);
      assert.equal(ofT(name, '/users/alice/deep/path'), 0, `${name} received alice's deep channel`);
      assert.equal(ofT(name, '/open/marker'), 1, `${name}: marker count`);
    }
    assert.equal(ofT('aliceExact', '/users/alice/inbox'), 1);
    assert.equal(ofT('aliceExact', '/users/alice/deep/path'), 0);
    assert.equal(ofT('aliceWild', '/users/alice/inbox'), 1, 'alice with three matching subscriptions: once');
    assert.equal(ofT('aliceWild', '/users/alice/deep/path'), 1);
    for (const m of [...subs.aliceExact.got('/users/alice/inbox'), ...subs.aliceWild.got('/users/alice/deep/path')]) {
      assert.equal(m.ext && m.ext.user, 'bob', JSON.stringify(m));
    }
    await Promise.all(Object.values(subs).map((s) => s.close()));
  });
});

// ---------------------------------------------------------------- private messages

describe('private messages between users', () => {
  const KEY = `private-api-key-${tag()}`;
  let server;
  let s; // A1 A2 (alice), B1 B2 (bob), carol, anon
  before(async () => {
    server = await startSecured({
      config: { auth: { mode: 'token', secret: SECRET, allow_anonymous: true }, api: { keys: [KEY] } },
      rules: [{ pattern: '/users/{user}/**', subscribe: 'owner', publish: 'authenticated' }],
    });
    s = await openAll(server, {
      A1: { user: 'alice', transport: 'websocket' },
      A2: { user: 'alice', transport: 'long-polling' },
      B1: { user: 'bob', transport: 'long-polling' },
      B2: { user: 'bob', transport: 'websocket' },
      carol: { user: 'carol', transport: 'websocket' },
      anon: { user: null, transport: 'long-polling' },
    });
    for (const [n, ch] of [['A1', '/users/alice/inbox'], ['A2', '/users/alice/inbox'], ['B1', '/users/bob/inbox'], ['B2', '/users/bob/inbox']]) {
      const r = await s[n].subscribe(ch);
      assert.equal(r.successful, true, `${n}: ${JSON.stringify(r)}`);
    }
    assert.equal((await s.carol.subscribe('/**')).successful, true);
  });
  after(async () => {
    await Client.closeAll();
    await stopClean(server);
  });

  test('carol cannot subscribe to alice\'s inbox; anonymous cannot write to it', async () => {
    const r = await s.carol.subscribe('/users/alice/inbox');
    assert.equal(r.successful, false);
    assert.equal(r.error, '403::subscribe_denied');
    const p = await s.anon.publish('/users/alice/inbox', { hi: 1 });
    assert.equal(p.error, '403::publish_denied');
  });

  test('alice→bob and bob→alice: both recipient sessions get each message once, stamped with the sender, spoofs removed; carol gets none', async () => {
    const t = tag();
    // Each sender claims to be the recipient in ext.user; the server must stamp the real sender.
    assert.equal((await s.A2.publish('/users/bob/inbox', { t, text: 'hi bob' }, { user: 'bob' })).successful, true);
    assert.equal((await s.B2.publish('/users/alice/inbox', { t, text: 'hi alice' }, { user: 'alice', note: 'kept' })).successful, true);
    assert.equal((await s.B2.publish('/open/marker', { t })).successful, true);
    for (const [n, ch] of [['A1', '/users/alice/inbox'], ['A2', '/users/alice/inbox'], ['B1', '/users/bob/inbox'], ['B2', '/users/bob/inbox']]) {
      await s[n].waitDelivery((m) => m.channel === ch && m.data.t === t, `the message on ${ch}`);
    }
    await s.carol.waitDelivery((m) => m.channel === '/open/marker' && m.data.t === t, 'the marker');
    await sleep(SETTLE_MS);
    const ofT = (n) => s[n].deliveries.filter((m) => m.data && m.data.t === t && m.channel.startsWith('/users/'));
    for (const n of ['B1', 'B2']) {
      const got = ofT(n);
      assert.equal(got.length, 1, `${n}: ${JSON.stringify(got)}`);
      assert.equal(got[0].channel, '/users/bob/inbox');
      assert.deepEqual(got[0].data, { t, text: 'hi bob' });
      assert.deepEqual(got[0].ext, { user: 'alice' }, `${n}: the spoofed ext.user survived: ${JSON.stringify(got[0])}`);
    }
    for (const n of ['A1', 'A2']) {
      const got = ofT(n);
      assert.equal(got.length, 1, `${n}: ${JSON.stringify(got)}`);
      assert.equal(got[0].channel, '/users/alice/inbox');
      assert.equal(got[0].ext.user, 'bob', `${n}: ${JSON.stringify(got[0])}`);
      assert.equal(got[0].ext.note, 'kept', `${n}: the sender's other ext members were dropped: ${JSON.stringify(got[0])}`);
    }
    assert.deepEqual(ofT('carol'), [], 'carol (subscribed to /**) received a private message');
  });

  test('healthz counts the distinct authenticated users (anonymous sessions are none)', async () => {
    const h = await healthz(server);
    assert.equal(h.users, 3, `alice, bob and carol: ${JSON.stringify(h)}`);
    assert.equal(h.auth.mode, 'token');
    assert.ok(h.auth.allowed >= 6, JSON.stringify(h.auth));
  });

  test('ext.user spoofs the CometD client cannot send (escaped key, duplicate keys) are removed too', async () => {
    const raw = [];
    try {
      for (const token of [undefined, mintToken(SECRET, 'bob')]) {
        const w = await WsClient.open(server);
        raw.push(w);
        const { reply } = await w.handshake(token ? { ext: { token } } : {});
        assert.equal(reply.successful, true, JSON.stringify(reply));
      }
      const t = tag();
      const exts = ['{"us\\u0065r":"alice"}', '{"user":"x","user":"alice"}', '{"\\u0075ser":"alice","keep":"\\\\"}', '{"user":"x","us\\u0065r":"alice","keep":1}'];
      let n = 0;
      for (const w of raw) {
        for (const ext of exts) {
          n += 1;
          w.send(`[{"channel":"/open/spoof","clientId":"${w.clientId}","id":"s${n}","data":{"t":"${t}","n":${n}},"ext":${ext}}]`);
        }
      }
      await waitUntil(() => s.carol.got('/open/spoof', (m) => m.data.t === t).length === n, `${n} spoofed messages at carol`, { detail: () => s.carol.dump() });
      const wrong = [];
      for (const m of s.carol.got('/open/spoof', (d) => d.data.t === t)) {
        const fromBob = m.data.n > exts.length;
        const user = m.ext ? m.ext.user : undefined;
        if (fromBob ? user !== 'bob' : hasUser(m)) wrong.push(JSON.stringify(m));
        if (JSON.stringify(m.ext || {}).includes('alice')) wrong.push(`alice survived: ${JSON.stringify(m)}`);
      }
      assert.deepEqual(wrong, []);
    } finally {
      // Disconnect, not just close: a session whose socket is gone lives on until max_interval,
      // and would count among bob's sessions in the next test.
      for (const w of raw) {
        if (w.clientId) await w.request({ channel: '/meta/disconnect' }, { timeoutMs: 3000 }).catch(() => {});
        w.close();
      }
    }
  });

  test('an anonymous session\'s ext.user is removed, not passed on', async () => {
    const t = tag();
    assert.equal((await s.anon.publish('/open/chat', { t }, { user: 'alice', other: 1 })).successful, true);
    const m = await s.carol.waitDelivery((d) => d.channel === '/open/chat' && d.data.t === t, 'the anonymous message');
    assert.ok(!hasUser(m), `anonymous delivery carries ext.user: ${JSON.stringify(m)}`);
    assert.equal(m.ext && m.ext.other, 1, `other ext members are kept: ${JSON.stringify(m)}`);
  });

  test('API {"user":"bob"} reaches both bob sessions through a listener, and nobody else', async () => {
    const t = tag();
    const heard = { A1: 0, A2: 0, B1: 0, B2: 0, carol: 0 };
    const handles = Object.keys(heard).map((n) => [n, s[n].cometd.addListener('/users/bob/notices', (m) => { if (m.data && m.data.t === t) heard[n] += 1; })]);
    try {
      const before = (await healthz(server)).messages_private;
      const r = await apiPublish(server, { user: 'bob', channel: '/users/bob/notices', data: { t } }, { key: KEY });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { published: 1, sessions: 2 });
      assert.equal((await healthz(server)).messages_private - before, 2, 'messages_private counts once per session');
      const marker = await apiPublish(server, { channel: '/open/api-marker', data: { t } }, { key: KEY });
      assert.equal(marker.status, 200, marker.text);
      await waitUntil(() => heard.B1 >= 1 && heard.B2 >= 1, 'both bob sessions to hear the notice', { detail: () => JSON.stringify(heard) });
      await s.carol.waitDelivery((m) => m.channel === '/open/api-marker' && m.data.t === t, 'the API marker');
      await sleep(SETTLE_MS);
      assert.deepEqual(heard, { A1: 0, A2: 0, B1: 1, B2: 1, carol: 0 });
      for (const n of ['B1', 'B2']) {
        const [m] = s[n].got('/users/bob/notices', (d) => d.data.t === t);
        assert.ok(!hasUser(m), `an API message carries ext.user: ${JSON.stringify(m)}`);
      }
      // To a user with no session: accepted, zero sessions.
      const none = await apiPublish(server, { user: 'nobody', channel: '/users/nobody/notices', data: {} }, { key: KEY });
      assert.deepEqual(none.json, { published: 1, sessions: 0 });
    } finally {
      for (const [n, h] of handles) s[n].cometd.removeListener(h);
    }
  });

  test('`encke publish --key --user alice` reaches both alice sessions once each', async () => {
    const t = tag();
    const r = await runEncke(['publish', '--url', server.base, '--key', KEY, '--user', 'alice', '--channel', '/users/alice/inbox', '--data', JSON.stringify({ t })], { timeoutMs: 10000 });
    assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
    for (const n of ['A1', 'A2']) await s[n].waitDelivery((m) => m.channel === '/users/alice/inbox' && m.data.t === t, 'the CLI message');
    await sleep(SETTLE_MS);
    for (const n of ['A1', 'A2', 'B1', 'B2', 'carol']) {
      const want = n.startsWith('A') ? 1 : 0;
      assert.equal(s[n].deliveries.filter((m) => m.data && m.data.t === t).length, want, `${n}\n${s[n].dump()}`);
    }
  });
});

// ---------------------------------------------------------------- publish API

describe('POST /api/publish', () => {
  const KEY = `api-key-${tag()}-0123456789`;
  let server;
  let off; // a server with no [api] keys
  let sub;
  before(async () => {
    server = await startSecured({ config: { api: { keys: ['another-key-0123456789', KEY] }, server: { max_body_bytes: 2048 } } });
    off = await startSecured();
    sub = await Client.open(server, { name: 'api-sub' });
    assert.equal((await sub.subscribe('/feed/**')).successful, true);
  });
  after(async () => {
    await Client.closeAll();
    await stopClean(server);
    await stopClean(off);
  });

  test('a message reaches a subscriber with no ext.user', async () => {
    const t = tag();
    const r = await apiPublish(server, { channel: '/feed/one', data: { t, nested: [1, { a: 'ü' }] } }, { key: KEY });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { published: 1 });
    const m = await sub.waitDelivery((d) => d.channel === '/feed/one' && d.data.t === t, 'the API message');
    assert.deepEqual(m.data, { t, nested: [1, { a: 'ü' }] });
    assert.ok(!hasUser(m), JSON.stringify(m));
  });

  test('the batch form publishes every message', async () => {
    const t = tag();
    const r = await apiPublish(server, [{ channel: '/feed/a', data: { t, i: 1 } }, { channel: '/feed/b', data: { t, i: 2 } }, { channel: '/feed/a', data: { t, i: 3 } }], { key: KEY });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { published: 3 });
    await waitUntil(() => sub.deliveries.filter((m) => m.data && m.data.t === t).length >= 3, 'three batch messages');
    await sleep(SETTLE_MS);
    const got = sub.deliveries.filter((m) => m.data && m.data.t === t).map((m) => `${m.channel}:${m.data.i}`);
    assert.deepEqual(got.sort(), ['/feed/a:1', '/feed/a:3', '/feed/b:2']);
  });

  test('refusals: 401 without or with a wrong key, 400 for bad bodies, 403 for protocol channels, 405', async () => {
    const cases = [
      ['no Authorization', { channel: '/feed/x', data: 1 }, {}, 401, 'unauthorized'],
      ['wrong key', { channel: '/feed/x', data: 1 }, { key: `${KEY}x` }, 401, 'invalid_key'],
      ['a key prefix', { channel: '/feed/x', data: 1 }, { key: KEY.slice(0, -1) }, 401, 'invalid_key'],
      ['Basic instead of Bearer', { channel: '/feed/x', data: 1 }, { headers: { Authorization: `Basic ${Buffer.from(`u:${KEY}`).toString('base64')}` } }, 401, 'unauthorized'],
      ['not JSON', '{"channel": "/feed/x", "data": ', { key: KEY }, 400, 'invalid_json'],
      ['empty body', '', { key: KEY }, 400, 'invalid_json'],
      ['/meta channel', { channel: '/meta/handshake', data: 1 }, { key: KEY }, 403, 'channel_forbidden'],
      ['/service channel', { channel: '/service/echo', data: 1 }, { key: KEY }, 403, 'channel_forbidden'],
      ['wildcard channel', { channel: '/feed/*', data: 1 }, { key: KEY }, 400, 'channel_invalid'],
      ['deep wildcard channel', { channel: '/feed/**', data: 1 }, { key: KEY }, 400, 'channel_invalid'],
      ['invalid channel', { channel: 'feed', data: 1 }, { key: KEY }, 400, 'channel_invalid'],
      ['no data', { channel: '/feed/x' }, { key: KEY }, 400, 'data_missing'],
      ['unknown member', { channel: '/feed/x', data: 1, ext: { user: 'alice' } }, { key: KEY }, 400, 'unknown_field'],
      ['invalid user id', { user: 'a/b', channel: '/feed/x', data: 1 }, { key: KEY }, 400, 'user_invalid'],
      ['empty batch', [], { key: KEY }, 400, 'empty_batch'],
      ['GET', undefined, { key: KEY, method: 'GET' }, 405, 'method_not_allowed'],
    ];
    const wrong = [];
    for (const [label, body, opts, status, code] of cases) {
      const r = await apiPublish(server, body, opts);
      if (r.status !== status || !r.json || r.json.error !== code || typeof r.json.message !== 'string') {
        wrong.push(`${label}: HTTP ${r.status} ${r.text.slice(0, 200)} (expected ${status} ${code})`);
      }
      if (status === 401 && !/^Bearer\b/.test(r.headers['www-authenticate'] || '')) wrong.push(`${label}: WWW-Authenticate ${r.headers['www-authenticate']}`);
      if (status === 405 && !/POST/.test(r.headers.allow || '')) wrong.push(`${label}: Allow ${r.headers.allow}`);
      if (label === 'wrong key' && r.text.includes(KEY)) wrong.push('the key is echoed');
    }
    assert.deepEqual(wrong, []);
    // Nothing of the above was published, and the API still works.
    const t = tag();
    assert.equal((await apiPublish(server, { channel: '/feed/after', data: { t } }, { key: KEY })).status, 200);
    await sub.waitDelivery((m) => m.channel === '/feed/after' && m.data.t === t, 'a message after the refusals');
    await sleep(SETTLE_MS);
    const stray = sub.deliveries.filter((m) => m.channel === '/feed/x');
    assert.deepEqual(stray, [], 'a refused request was published');
  });

  const big = JSON.stringify({ channel: '/feed/big', data: 'x'.repeat(3000) });

  test('413 too_large for a chunked body over server.max_body_bytes; nothing published; the API still works', async () => {
    const r = await apiPublish(server, big, { key: KEY, headers: { 'Transfer-Encoding': 'chunked' } });
    assert.equal(r.status, 413, r.text);
    assert.deepEqual(r.json && r.json.error, 'too_large', r.text);
    const r2 = await apiPublish(server, big, { key: KEY });
    assert.equal(r2.status, 413, r2.text);
    const t = tag();
    assert.equal((await apiPublish(server, { channel: '/feed/after-big', data: { t } }, { key: KEY })).status, 200);
    await sub.waitDelivery((m) => m.channel === '/feed/after-big' && m.data.t === t, 'a message after the 413s');
    assert.deepEqual(sub.got('/feed/big'), []);
  });

  // Beast refuses a declared Content-Length over the limit while it reads the header: the API's
  // JSON body is still the answer.
  test('413 with Content-Length over max_body_bytes answers the API error body {"error":"too_large"}', async () => {
    const r = await apiPublish(server, big, { key: KEY });
    assert.equal(r.status, 413, r.text);
    assert.deepEqual(r.json, { error: 'too_large', message: r.json && r.json.message }, r.text);
  });

  test('a batch with one bad message is refused whole: nothing is published', async () => {
    const t = tag();
    const r = await apiPublish(server, [{ channel: '/feed/first', data: { t } }, { channel: '/meta/connect', data: { t } }], { key: KEY });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.error, 'channel_forbidden');
    const r2 = await apiPublish(server, [{ channel: '/feed/first', data: { t } }, { channel: '/feed/second' }], { key: KEY });
    assert.equal(r2.status, 400, r2.text);
    assert.equal(r2.json.error, 'data_missing');
    assert.equal((await apiPublish(server, { channel: '/feed/marker', data: { t } }, { key: KEY })).status, 200);
    await sub.waitDelivery((m) => m.channel === '/feed/marker' && m.data.t === t, 'the marker');
    await sleep(SETTLE_MS);
    assert.deepEqual(sub.got('/feed/first', (m) => m.data.t === t), [], 'part of a refused batch was published');
  });

  test('no [api] keys: 403 api_disabled, whatever the key', async () => {
    for (const key of [undefined, KEY]) {
      const r = await apiPublish(off, { channel: '/feed/x', data: 1 }, { key });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.json.error, 'api_disabled');
    }
  });

  test('`encke publish --key`: exit 0 and delivered; a wrong key: exit 1 and one line on stderr', async () => {
    const t = tag();
    const ok = await runEncke(['publish', '--url', server.base, '--key', KEY, '--channel', '/feed/cli', '--data', JSON.stringify({ t })], { timeoutMs: 10000 });
    assert.equal(ok.code, 0, `exit ${ok.code}: ${ok.stderr}`);
    const m = await sub.waitDelivery((d) => d.channel === '/feed/cli' && d.data.t === t, 'the CLI message');
    assert.ok(!hasUser(m), JSON.stringify(m));

    const bad = await runEncke(['publish', '--url', server.base, '--key', `wrong-${KEY}`, '--channel', '/feed/cli', '--data', JSON.stringify({ t, bad: true })], { timeoutMs: 10000 });
    assert.equal(bad.code, 1, `exit ${bad.code}; stdout ${bad.stdout}; stderr ${bad.stderr}`);
    const lines = bad.stderr.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.length, 1, `stderr: ${JSON.stringify(bad.stderr)}`);
    assert.match(lines[0], /^encke publish: HTTP 401: /);
    assert.ok(!lines[0].includes(KEY), 'the key is echoed on stderr');
    await sleep(SETTLE_MS);
    assert.deepEqual(sub.got('/feed/cli', (d) => d.data.bad === true), []);
    const h = await healthz(server);
    assert.equal(h.auth.mode, 'none');
  });
});
