// What the bridge tests ask of a running Encke: a bridge's entry in /healthz, a wait for its state,
// and the in-order bulk check both brokers run.
import assert from 'node:assert/strict';
import { sleep, waitFor } from '../../interop/lib/harness.mjs';

/** The /healthz entry of bridge `name`. */
export async function bridgeHealth(srv, name) {
  const res = await fetch(`${srv.base}/healthz`);
  assert.equal(res.status, 200);
  const b = (await res.json()).bridges.find((x) => x.name === name);
  assert.ok(b, `no bridge called ${name} in /healthz`);
  return b;
}

/** Waits (bounded) until bridge `name` is in `state`; resolves with its /healthz entry. */
export function waitBridgeState(srv, name, state, { what = `bridge ${name} to be ${state}`, timeout = 60000 } = {}) {
  return waitFor(async () => {
    const b = await bridgeHealth(srv, name);
    return b.state === state ? b : null;
  }, what, { timeout, interval: 100 });
}

/**
 * Sends `count` messages {"seq":i} with `send(i, body, receipt)` (a receipt on every 1000th keeps
 * the producer from running far ahead of the broker) and checks that the client `c` gets all of
 * them on `channel`, once each, in order.
 */
export async function assertBulkInOrder(c, channel, send, count = 10000) {
  const seen = [];
  await c.subscribe(channel, (ch, d) => seen.push(d.seq));
  for (let i = 0; i < count; i++) {
    const p = send(`{"seq":${i}}`, i % 1000 === 999);
    if (i % 1000 === 999) await p;
  }
  await waitFor(() => seen.length >= count, `${count} messages (have ${seen.length})`, { timeout: 60000, interval: 50 });
  await sleep(200);
  assert.equal(seen.length, count, 'no duplicates');
  for (let i = 0; i < count; i++) if (seen[i] !== i) assert.fail(`message ${i} is ${seen[i]}: out of order or lost`);
}
