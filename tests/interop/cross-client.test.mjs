// Interop between the two client libraries through one encke: a CometD publisher reaches Faye
// subscribers and vice versa, across transports (sessions of different clients and transports
// share channels).
import assert from 'node:assert/strict';
import { describe, test, before, after } from 'node:test';
import { startServer, stopServer, assertCleanExit, writeConfig, waitFor, sleep, uniq, UNICODE_SAMPLE, bytesOf } from './lib/harness.mjs';
import { makeClient } from './lib/clients.mjs';

const COMBOS = [
  { pub: ['cometd', 'websocket'], subs: [['faye', 'long-polling'], ['faye', 'websocket'], ['cometd', 'long-polling']] },
  { pub: ['faye', 'websocket'], subs: [['cometd', 'websocket'], ['cometd', 'long-polling'], ['faye', 'long-polling']] },
  { pub: ['cometd', 'long-polling'], subs: [['faye', 'websocket'], ['cometd', 'websocket']] },
  { pub: ['faye', 'long-polling'], subs: [['cometd', 'websocket'], ['faye', 'websocket']] },
];

describe('CometD and Faye clients on the same channels (encke --threads 2)', { timeout: 120000 }, () => {
  let srv;
  before(async () => {
    srv = await startServer({ config: writeConfig().file, threads: 2 });
  });
  after(async () => {
    assertCleanExit(await stopServer(srv), srv);
  });

  for (const { pub: pubSpec, subs: subSpecs } of COMBOS) {
    const title = `${pubSpec.join('/')} publisher -> ${subSpecs.map((s) => s.join('/')).join(', ')} subscribers`;
    test(title, async () => {
      const clients = [];
      try {
        const subs = [];
        for (const [i, [kind, transport]] of subSpecs.entries()) {
          const c = await makeClient(kind, srv.url, transport, `sub${i}-${kind}-${transport}`);
          clients.push(c);
          await c.start();
          subs.push(c);
        }
        const pub = await makeClient(pubSpec[0], srv.url, pubSpec[1], `pub-${pubSpec.join('-')}`);
        clients.push(pub);
        await pub.start();

        const root = `/x/${uniq()}`;
        const got = subs.map(() => []);
        await Promise.all(subs.map((c, i) => c.subscribe(`${root}/**`, (ch, d) => got[i].push({ ch, d }))));
        const msgs = [
          [`${root}/a`, { n: 1, text: 'plain' }],
          [`${root}/a/b`, UNICODE_SAMPLE],
          [`${root}/c`, { n: 3, list: [true, false, null, 0, -1.5e300] }],
        ];
        for (const [ch, d] of msgs) await pub.publish(ch, d);
        await waitFor(() => got.every((g) => g.length >= msgs.length), 'every subscriber to get every message', {
          detail: () => subs.map((c) => c.rec.dump(10)).join('\n'),
        });
        await sleep(300);
        for (const [i, g] of got.entries()) {
          assert.equal(g.length, msgs.length, `${subs[i].name}: ${g.length} deliveries`);
          for (const [k, [ch, d]] of msgs.entries()) {
            assert.equal(g[k].ch, ch);
            assert.ok(bytesOf(g[k].d).equals(bytesOf(d)), `${subs[i].name}: message ${k} differs`);
          }
        }
        for (const c of subs) assert.equal(c.transportType(), c.wantedTransport, `${c.name} transport`);
        const bad = clients.flatMap((c) => c.rec.failures().map((f) => `${c.name}: ${f}`));
        assert.deepEqual(bad, [], 'protocol or transport failures seen by the clients');
      } catch (e) {
        e.message += `\n${clients.map((c) => c.rec.dump(15)).join('\n')}\n--- encke stderr tail ---\n${srv.logTail(1500)}`;
        throw e;
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    });
  }
});
