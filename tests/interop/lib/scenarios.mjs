// The scenarios every Node client × transport combination runs (one server per suite).
import assert from 'node:assert/strict';
import { describe, test, before, after } from 'node:test';
import {
  startServer,
  stopServer,
  restartServer,
  assertCleanExit,
  writeConfig,
  waitFor,
  sleep,
  uniq,
  UNICODE_SAMPLE,
  bigPayload,
  bytesOf,
} from './harness.mjs';
import { makeClient } from './clients.mjs';

// After the last expected message, wait this long to catch duplicates / stray deliveries.
const SETTLE_MS = 300;

/**
 * defineSuite({ kind: 'cometd'|'faye', transport: 'websocket'|'long-polling', threads })
 */
export function defineSuite({ kind, transport, threads = 2 }) {
  describe(`${kind} client over ${transport} (encke --threads ${threads})`, { timeout: 170000 }, () => {
    let srv;
    let cfg;

    before(async () => {
      cfg = writeConfig();
      srv = await startServer({ config: cfg.file, threads });
    });

    after(async () => {
      assertCleanExit(await stopServer(srv), srv);
    });

    /**
     * Runs fn(mk) where mk(name) creates and starts a client; every client is closed afterwards,
     * and on failure the wire logs of the clients and the server's stderr tail are appended.
     */
    async function scenario(fn, { expectFailures = false } = {}) {
      const clients = [];
      const mk = async (name) => {
        const c = await makeClient(kind, srv.url, transport, name);
        clients.push(c);
        await c.start();
        return c;
      };
      try {
        await fn(mk, clients);
        if (!expectFailures) {
          // A passing scenario must also have been clean: no failed meta reply, no HTTP error,
          // no dropped socket, no client-side timeout on the way.
          const bad = clients.flatMap((c) => c.rec.failures().map((f) => `${c.name}: ${f}`));
          assert.deepEqual(bad, [], 'protocol or transport failures seen by the clients');
        }
      } catch (e) {
        const logs = clients.slice(0, 4).map((c) => c.rec.dump(30)).join('\n');
        e.message += `\n${logs}\n--- encke stderr tail ---\n${srv ? srv.logTail(2000) : ''}`;
        throw e;
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    }

    function assertTransport(c) {
      assert.equal(c.transportType(), transport, `${c.name} should be using ${transport} (connect types seen: ${c.rec.connectTypes})`);
    }

    test('round trip: subscribe, publish (acknowledged), receive', async () => {
      await scenario(async (mk) => {
        const sub = await mk('sub');
        const pub = await mk('pub');
        const ch = `/rt/${uniq()}`;
        const got = [];
        await sub.subscribe(ch, (c, d) => got.push({ c, d }));
        const payload = { text: 'hello', n: 1, nested: { ok: true, list: [1, 2.5, null, 'x'] } };
        await pub.publish(ch, payload); // rejects unless the reply is successful
        await waitFor(() => got.length >= 1, `delivery on ${ch}`, { detail: () => sub.rec.dump() });
        await sleep(SETTLE_MS);
        assert.equal(got.length, 1, 'exactly one delivery');
        assert.equal(got[0].c, ch);
        assert.deepEqual(got[0].d, payload);
        assert.equal(sub.rec.rawCount(ch), 1);
        // A delivery carries channel and data; never the publisher's clientId (spec: must not
        // leak), never `successful` (both clients would take it for a reply).
        const keys = sub.rec.rawKeys.find((k) => k.channel === ch).keys;
        assert.ok(keys.includes('channel') && keys.includes('data'), `delivery fields ${keys}`);
        assert.ok(!keys.includes('clientId') && !keys.includes('successful'), `delivery fields ${keys}`);
        assert.ok(sub.clientId() && pub.clientId() && sub.clientId() !== pub.clientId(), 'distinct clientIds');
        await waitFor(() => sub.transportType() === transport && pub.transportType() === transport, `both clients on ${transport}`, {
          timeout: 5000,
          detail: () => `sub ${sub.rec.connectTypes} pub ${pub.rec.connectTypes}`,
        });
        assertTransport(sub);
        assertTransport(pub);
      });
    });

    test('wildcards: /a/* and /a/** match the right channels; overlapping subscriptions get one copy', async () => {
      await scenario(async (mk) => {
        const root = `/wc/${uniq()}`;
        const one = await mk('one-star');
        const two = await mk('two-stars');
        const both = await mk('overlap');
        const pub = await mk('pub');
        const gotOne = [];
        const gotTwo = [];
        const gotBoth = { exact: [], star: [], stars: [] };
        await one.subscribe(`${root}/*`, (c) => gotOne.push(c));
        await two.subscribe(`${root}/**`, (c) => gotTwo.push(c));
        await both.subscribe(`${root}/x`, (c) => gotBoth.exact.push(c));
        await both.subscribe(`${root}/*`, (c) => gotBoth.star.push(c));
        await both.subscribe(`${root}/**`, (c) => gotBoth.stars.push(c));

        const channels = [`${root}`, `${root}/x`, `${root}/y`, `${root}/x/deep`, `${root}/x/deep/er`, `${root}x/y`, `/wcother/x`];
        for (const ch of channels) await pub.publish(ch, { ch });
        await pub.publish(`${root}/end`, { end: true });
        await waitFor(
          () => gotOne.includes(`${root}/end`) && gotTwo.includes(`${root}/end`) && gotBoth.stars.includes(`${root}/end`),
          'the end marker at every subscriber',
          { detail: () => [one, two, both].map((c) => c.rec.dump(15)).join('\n') },
        );
        await sleep(SETTLE_MS);
        assert.deepEqual(gotOne, [`${root}/x`, `${root}/y`, `${root}/end`], '/* gets exactly one-segment children');
        assert.deepEqual(gotTwo, [`${root}/x`, `${root}/y`, `${root}/x/deep`, `${root}/x/deep/er`, `${root}/end`], '/** gets all descendants');
        assert.deepEqual(gotBoth.exact, [`${root}/x`]);
        assert.deepEqual(gotBoth.star, [`${root}/x`, `${root}/y`, `${root}/end`]);
        assert.deepEqual(gotBoth.stars, [`${root}/x`, `${root}/y`, `${root}/x/deep`, `${root}/x/deep/er`, `${root}/end`]);
        // One copy on the wire per message for the client with three matching subscriptions.
        for (const ch of [`${root}/x`, `${root}/y`, `${root}/x/deep`, `${root}/x/deep/er`, `${root}/end`]) {
          assert.equal(both.rec.rawCount(ch), 1, `overlapping subscriber received ${both.rec.rawCount(ch)} copies of ${ch}`);
        }
        for (const ch of [root, `${root}x/y`, '/wcother/x']) {
          for (const c of [one, two, both]) assert.equal(c.rec.rawCount(ch), 0, `${c.name} must not receive ${ch}`);
        }
      });
    });

    test('unsubscribe: no deliveries after the unsubscribe is acknowledged', async () => {
      await scenario(async (mk) => {
        const root = `/unsub/${uniq()}`;
        const sub = await mk('sub');
        const pub = await mk('pub');
        const gotA = [];
        const gotB = [];
        const a = await sub.subscribe(`${root}/a`, (c, d) => gotA.push(d.n));
        await sub.subscribe(`${root}/b`, (c, d) => gotB.push(d.n));
        await pub.publish(`${root}/a`, { n: 1 });
        await waitFor(() => gotA.length === 1, 'first delivery on /a');
        await sub.unsubscribe(a);
        await pub.publish(`${root}/a`, { n: 2 });
        await pub.publish(`${root}/a`, { n: 3 });
        await pub.publish(`${root}/b`, { n: 99 });
        await waitFor(() => gotB.length === 1, 'marker on /b', { detail: () => sub.rec.dump() });
        await sleep(SETTLE_MS);
        assert.deepEqual(gotA, [1]);
        assert.equal(sub.rec.rawCount(`${root}/a`), 1, 'the server kept delivering after the unsubscribe');
        assert.deepEqual(gotB, [99]);
      });
    });

    test('1000 messages from one publisher arrive in order, none lost, none duplicated', async () => {
      await scenario(async (mk) => {
        const ch = `/order/${uniq()}`;
        const sub = await mk('sub');
        const pub = await mk('pub');
        const got = [];
        await sub.subscribe(ch, (c, d) => got.push(d.seq));
        const N = 1000;
        const acks = [];
        // CometD sends its non-connect requests one at a time, and a WebSocket is one ordered
        // stream, so a burst of publishes reaches the server in order. The Faye client over HTTP
        // sends concurrent POSTs (one per tick/2 KiB batch), whose arrival order nobody can
        // promise: there, "published in order" means each publish after the previous ack.
        const paced = kind === 'faye' && transport !== 'websocket';
        for (let i = 0; i < N; i++) {
          const p = pub.publish(ch, { seq: i, pad: `message ${i}` });
          acks.push(p);
          if (paced) await p.catch(() => {});
        }
        const results = await Promise.allSettled(acks);
        const failed = results.filter((r) => r.status === 'rejected');
        assert.equal(failed.length, 0, `publish failures: ${failed.slice(0, 3).map((r) => r.reason.message)}`);
        await waitFor(() => got.length >= N, `${N} deliveries`, {
          detail: () => `got ${got.length}; last ${got.slice(-5)}\n${sub.rec.dump(10)}`,
        });
        await sleep(SETTLE_MS);
        assert.equal(got.length, N, 'no duplicates');
        const firstBad = got.findIndex((v, i) => v !== i);
        assert.equal(firstBad, -1, `out of order at index ${firstBad}: ${got.slice(Math.max(0, firstBad - 3), firstBad + 3)}`);
      });
    });

    test('a 256 KiB payload arrives intact', async () => {
      await scenario(async (mk) => {
        const ch = `/big/${uniq()}`;
        const sub = await mk('sub');
        const pub = await mk('pub');
        const got = [];
        await sub.subscribe(ch, (c, d) => got.push(d));
        const blob = bigPayload(256 * 1024);
        const payload = { name: 'blob', blob, tail: 'end' };
        await pub.publish(ch, payload);
        await waitFor(() => got.length >= 1, 'the 256 KiB delivery');
        await sleep(SETTLE_MS);
        assert.equal(got.length, 1);
        assert.equal(got[0].blob.length, blob.length, 'length');
        assert.ok(got[0].blob === blob, 'content differs');
        assert.ok(bytesOf(got[0]).equals(bytesOf(payload)));
      });
    });

    test('unicode (non-BMP, CJK, RTL, control chars, U+2028) arrives byte-identical', async () => {
      await scenario(async (mk) => {
        const ch = `/uni/${uniq()}`;
        const sub = await mk('sub');
        const pub = await mk('pub');
        const got = [];
        await sub.subscribe(ch, (c, d) => got.push(d));
        const payloads = [UNICODE_SAMPLE, '\u2028', '😀', { '\u2029': '\u0000' }, ['\u202E', '\uD83D\uDE00']];
        for (const p of payloads) await pub.publish(ch, p);
        await waitFor(() => got.length >= payloads.length, `${payloads.length} deliveries`, { detail: () => sub.rec.dump() });
        await sleep(SETTLE_MS);
        assert.equal(got.length, payloads.length);
        for (let i = 0; i < payloads.length; i++) {
          assert.deepEqual(got[i], payloads[i]);
          assert.ok(bytesOf(got[i]).equals(bytesOf(payloads[i])), `payload ${i} differs in bytes`);
        }
      });
    });

    test('50 concurrent clients each receive every broadcast exactly once', async () => {
      await scenario(async (mk) => {
        const ch = `/fan/${uniq()}`;
        const N = 50;
        const B = 20;
        const subs = [];
        const got = [];
        const start = async (i) => {
          const c = await mk(`sub${i}`);
          got[i] = [];
          await c.subscribe(ch, (cc, d) => got[i].push(d.b));
          subs[i] = c;
        };
        if (kind === 'cometd' && transport === 'long-polling') {
          // cometd-nodejs-client keeps one cookie jar per process (one "browser"): clients that
          // handshake at the same moment would overwrite each other's BAYEUX_BROWSER cookie.
          for (let i = 0; i < N; i++) await start(i);
        } else {
          for (let g = 0; g < N; g += 10) await Promise.all(Array.from({ length: Math.min(10, N - g) }, (_, k) => start(g + k)));
        }
        const pub = await mk('pub');
        for (let b = 0; b < B; b++) await pub.publish(ch, { b });
        await waitFor(() => got.every((a) => a.length >= B), `${N}×${B} deliveries`, {
          detail: () => {
            const short = got.map((a, i) => [i, a.length]).filter(([, l]) => l < B);
            return `clients short of ${B}: ${JSON.stringify(short.slice(0, 10))}\n${short.length ? subs[short[0][0]].rec.dump(20) : ''}`;
          },
        });
        await sleep(SETTLE_MS * 2);
        const expected = Array.from({ length: B }, (_, b) => b);
        let receipts = 0;
        for (let i = 0; i < N; i++) {
          assert.deepEqual(got[i], expected, `client ${i} received ${JSON.stringify(got[i])}`);
          assert.equal(subs[i].rec.rawCount(ch), B);
          receipts += got[i].length;
        }
        assert.equal(receipts, N * B);
        assert.equal(new Set(subs.map((c) => c.clientId())).size, N, 'distinct sessions');
      });
    });

    test('server restart (SIGTERM, same port): clients re-handshake, re-subscribe and receive', async () => {
      await scenario(async (mk) => {
        const ch = `/restart/${uniq()}`;
        const sub = await mk('sub');
        const pub = await mk('pub');
        const got = [];
        await sub.subscribe(ch, (c, d) => got.push(d));
        await pub.publish(ch, { phase: 'before' });
        await waitFor(() => got.length === 1, 'delivery before the restart');
        const before = { sub: sub.clientId(), pub: pub.clientId() };
        assert.equal(sub.rec.handshakes, 1);

        const port = srv.port;
        const oldSrv = srv;
        const { stopped, server } = await restartServer(srv);
        srv = server;
        assert.equal(srv.port, port);
        assertCleanExit(stopped, oldSrv);

        await waitFor(() => sub.rec.handshakes >= 2 && pub.rec.handshakes >= 2, 'both clients to re-handshake on their own', {
          detail: () => `${sub.rec.dump(20)}\n${pub.rec.dump(20)}`,
        });
        // Re-subscription: CometD from the application's handshake listener (reestablish),
        // Faye automatically. Wait for the server's acknowledgement of it.
        if (kind === 'cometd') await waitFor(() => sub.resubscribes >= 1, 're-subscription acknowledged', { detail: () => sub.rec.dump(20) });
        else await waitFor(() => sub.subAcks >= 2, 're-subscription acknowledged', { detail: () => sub.rec.dump(20) });

        assert.notEqual(sub.clientId(), before.sub, 'a new session after the restart');
        assert.notEqual(pub.clientId(), before.pub, 'a new session after the restart');
        await pub.publish(ch, { phase: 'after' });
        await waitFor(() => got.length >= 2, 'delivery after the restart', { detail: () => sub.rec.dump(20) });
        await sleep(SETTLE_MS);
        assert.deepEqual(got, [{ phase: 'before' }, { phase: 'after' }]);
        await waitFor(() => sub.transportType() === transport && pub.transportType() === transport, `both clients back on ${transport}`, {
          timeout: 5000,
          detail: () => `sub ${sub.rec.connectTypes} pub ${pub.rec.connectTypes}`,
        });
      }, { expectFailures: true });
    });
  });
}
