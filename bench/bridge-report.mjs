#!/usr/bin/env node
// bench/bridge-report.mjs — renders a bench/bridge run folder as Markdown (stdout).
//
//   node bench/bridge-report.mjs RUN_DIR
//
// Input: RUN_DIR/meta.tsv (key<TAB>value), RUN_DIR/runs.tsv (one row per encke-bench run, header
// first), RUN_DIR/skipped.tsv (broker<TAB>path<TAB>why, for what could not be measured) and each
// run's JSON report (the encke-bench --json format). A run without a usable JSON report is shown as
// failed, never left out.
import fs from 'node:fs';
import path from 'node:path';
import { int, isNum, ms, sig } from './lib/format.mjs';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node bench/bridge-report.mjs RUN_DIR\n');
  process.exit(2);
}

// ---------------------------------------------------------------- input
function readTsv(file, header = true) {
  if (!fs.existsSync(file)) return [];
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length);
  if (!header) return lines.map((l) => l.split('\t'));
  const head = lines.shift().split('\t');
  return lines.map((l) => Object.fromEntries(l.split('\t').map((v, i) => [head[i], v])));
}
const meta = Object.fromEntries(readTsv(path.join(dir, 'meta.tsv'), false).map(([k, ...v]) => [k, v.join('\t')]));
const runs = readTsv(path.join(dir, 'runs.tsv'));
const skipped = readTsv(path.join(dir, 'skipped.tsv'), false);
for (const r of runs) {
  try {
    r.report = JSON.parse(fs.readFileSync(path.join(dir, r.json), 'utf8'));
  } catch {
    r.report = null;
  }
}
const find = (broker, p, mode) => runs.find((r) => r.broker === broker && r.path === p && r.mode === mode);

// ---------------------------------------------------------------- formatting
const cpu = (s, secs) => (isNum(s) && s >= 0 && isNum(secs) && secs > 0 ? `${Math.round((100 * s) / secs)} %` : '—');

const NAME = { activemq: 'ActiveMQ', rabbitmq: 'RabbitMQ' };
const BRIDGE = { activemq: 'STOMP bridge', rabbitmq: 'AMQP 1.0 bridge' };
const WILDCARD = { activemq: '/topic/bench.>', rabbitmq: '/topic/bench.#' };
const brokers = [...new Set([...runs.map((r) => r.broker), ...skipped.map((s) => s[0])])];
const perChannel = Number(meta.per_channel) || 10;
const p99Limit = Number(meta.p99_limit_ms) || 100;
const targetRate = Number(meta.target_rate) || 20000;
const halfRate = Number(meta.half_rate) || targetRate / 2;
const addedLimit = Number(meta.added_p99_limit_ms) || 5;

// What the generator, Encke and the broker used, and the rest of the machine ("others": processes
// this benchmark did not start, on a shared machine).
function others(step) {
  if (!isNum(step.machine_cpu_s)) return null;
  const used = [step.server_cpu_s, step.broker_cpu_s, step.generator_cpu_s].filter((v) => isNum(v) && v > 0);
  return Math.max(0, step.machine_cpu_s - used.reduce((a, b) => a + b, 0));
}

// A step that sustained its rate: every message arrived, p99 within the limit, ≥ 95 % of the
// deliveries due in the window arrived in it (a step falling behind is not sustaining its rate).
const sustained = (s) =>
  s.lost === 0 && isNum(s.latency_us?.p99) && s.latency_us.p99 <= p99Limit * 1000 &&
  s.delivered_per_s >= 0.95 * s.target_deliveries_per_s;

function ceiling(run) {
  const steps = run?.report?.steps ?? [];
  let best = null;
  for (const s of steps) if (sustained(s) && (!best || s.rate > best.rate)) best = s;
  const rates = String(meta.rates || '').split(',').map(Number);
  return { best, atTop: best && best.rate === Math.max(...rates) };
}

function why(broker, p) {
  const s = skipped.find((x) => x[0] === broker && (x[1] === p || x[1] === 'all'));
  if (s) return `not measured: ${s[2]}`;
  const r = find(broker, p, 'fixed');
  if (r && r.status !== 'ok') return `run ${r.status}`;
  return 'not measured';
}

// ---------------------------------------------------------------- the report
const out = [];
const w = (s = '') => out.push(s);
const ram = isNum(Number(meta.ram_kib)) ? `${sig(Number(meta.ram_kib) / 1048576)} GiB RAM` : '';

w('# Broker bridge benchmark: broker → Encke → 1,000 WebSocket subscribers');
w();
w(`${meta.date ?? ''}, \`${meta.command ?? 'bench/bridge'}\`${meta.quick === '1' ? ' (BENCH_QUICK=1: short runs, fewer rates)' : ''}${meta.env ? `, env: \`${meta.env}\`` : ''}.`);
w();
w('## Machine and software');
w();
w(`- **${meta.cpu || '?'}**, ${meta.nproc || '?'} CPUs${meta.virtualization ? ` (${meta.virtualization} guest)` : ''}, ${ram}; ${meta.kernel || '?'}, Debian ${meta.debian || '?'}.`);
w(`- Load average ${meta.loadavg_start || '?'} at the start, ${meta.loadavg_end || '?'} at the end; the "others" CPU column is what processes outside this benchmark used meanwhile.`);
w(`- Encke ${(meta.encke || '?').replace(/^encke\s+/, '')} (git ${meta.git || '?'}), \`threads = ${meta.encke_threads}\`, log level warn; encke-bench with ${meta.gen_threads} event-loop thread(s).`);
w(`- ActiveMQ ${meta.activemq || '?'} (${meta.java || 'java ?'}, heap ${meta.amq_heap}, STOMP over NIO, non-persistent); RabbitMQ ${meta.rabbitmq || '?'} (AMQP 1.0 and STOMP plugins), both from scripts/brokers.sh on loopback.`);
w(`- Pinning: ${meta.pinning || 'none'}.`);
w();
w('## Topology');
w();
w(`- The broker: one topic wildcard, \`${WILDCARD.activemq}\` (ActiveMQ) or \`${WILDCARD.rabbitmq}\` (RabbitMQ), and one bridge route from it to \`/bench\`: ${meta.channels} channels \`/bench/0\` … \`/bench/${Number(meta.channels) - 1}\`.`);
w(`- ${int(Number(meta.subscribers))} WebSocket subscribers with 1 channel each, ${perChannel} per channel: **each broker message reaches ${perChannel} subscribers** (deliveries/s = ${perChannel} × broker messages/s).`);
w(`- The publisher: encke-bench over STOMP, ${meta.publishers} connections, \`SEND /topic/bench.N\` with a ${meta.payload}-byte JSON body (sequence number + time stamp; no content-length, so a JMS TextMessage on ActiveMQ), \`content-type:application/json\`, non-persistent, pipelined, a receipt every 1,000 SENDs. RabbitMQ takes it on its STOMP port (amq.topic, routing key bench.N) and Encke consumes over AMQP 1.0.`);
w('- **Baseline**: the same publisher and 1 STOMP subscriber directly on the broker, subscribed to the 100 destinations (ack auto): the broker alone. Encke is not running then.');
w('- Latency is end to end: from the moment a message was due at the publisher to its arrival at a subscriber (one clock, one process). **Added latency** = Encke path − baseline at the same rate, on the same broker instance, measured one after the other.');
w(`- Rates are broker messages per second; "${meta.fixed}" s (warm-up + measured) for the fixed runs at ${int(halfRate)} msgs/s, "${meta.sweep}" s per sweep step. A sweep stops after the first step over p99 ${p99Limit} ms or delivering under 80 % of its target.`);
w();

// ---- targets
w('## Targets');
w();
w(`| target | ${brokers.map((b) => `${NAME[b] ?? b} (${BRIDGE[b] ?? ''})`).join(' | ')} |`);
w(`|---|${brokers.map(() => '---').join('|')}|`);
const row1 = [], row2 = [];
for (const b of brokers) {
  const sweep = find(b, 'encke', 'sweep');
  if (!sweep?.report) {
    row1.push(why(b, 'encke'));
  } else {
    const { best, atTop } = ceiling(sweep);
    if (!best) row1.push(`**NOT met**: no swept rate was sustained (zero loss, p99 ≤ ${p99Limit} ms)`);
    else {
      const msgs = best.delivered_per_s / perChannel;
      const met = best.rate >= targetRate;
      row1.push(`**${met ? 'met' : 'NOT met'}**: ${atTop ? '≥ ' : ''}${int(best.rate)} msgs/s (measured ${int(msgs)} msgs/s = ${int(best.delivered_per_s)} deliveries/s, p99 ${ms(best.latency_us.p99)})${atTop ? '; the sweep\'s top rate, the real ceiling is higher' : ''}`);
    }
  }
  const e = find(b, 'encke', 'fixed')?.report, base = find(b, 'baseline', 'fixed')?.report;
  const es = e?.steps?.[0], bs = base?.steps?.[0];
  // Latency is measured on what arrives within the window: a run that fell behind has few, early
  // samples and says nothing about the rate, so it cannot meet the target (nor give a difference).
  const behind = (st) => `only ${int(st.delivered_per_s / (st === bs ? 1 : perChannel))} of ${int(halfRate)} msgs/s delivered in the window`;
  if (!es || !bs) row2.push(!es ? why(b, 'encke') : why(b, 'baseline'));
  else if (!sustained(bs)) row2.push(`**not measurable**: the broker alone did not sustain ${int(halfRate)} msgs/s (${behind(bs)}, p99 ${ms(bs.latency_us.p99)})`);
  else if (!sustained(es)) row2.push(`**NOT met**: the Encke path did not sustain ${int(halfRate)} msgs/s (${behind(es)}, p99 ${ms(es.latency_us.p99)}, lost ${int(es.lost)})`);
  else {
    const added = es.latency_us.p99 - bs.latency_us.p99;
    row2.push(`**${added < addedLimit * 1000 ? 'met' : 'NOT met'}**: ${ms(es.latency_us.p99)} − ${ms(bs.latency_us.p99)} = ${ms(added)}`);
  }
}
w(`| ≥ ${int(targetRate)} msgs/s from one topic (highest swept rate sustained: zero loss, p99 ≤ ${p99Limit} ms) | ${row1.join(' | ')} |`);
w(`| p99 added latency < ${addedLimit} ms at ${int(halfRate)} msgs/s (Encke path p99 − baseline p99) | ${row2.join(' | ')} |`);
// For reading the first row: what the broker alone sustained, and the bridge without the fan-out.
const ceilingCell = (run, fan) => {
  if (!run?.report) return '—';
  const { best, atTop } = ceiling(run);
  return best ? `${atTop ? '≥ ' : ''}${int(best.rate)} msgs/s (p99 ${ms(best.latency_us.p99)})` : 'no swept rate sustained';
};
w(`| *for comparison:* the broker alone (baseline), highest swept rate sustained | ${brokers.map((b) => ceilingCell(find(b, 'baseline', 'sweep'))).join(' | ')} |`);
if (runs.some((r) => r.path === 'ingest'))
  w(`| *for comparison:* Encke with 1 subscriber per channel (${meta.channels} subscribers), highest swept rate sustained | ${brokers.map((b) => ceilingCell(find(b, 'ingest', 'sweep'))).join(' | ')} |`);
w();

// ---- half rate
w(`## At ${int(halfRate)} msgs/s (${int(halfRate * perChannel)} deliveries/s): fixed runs`);
w();
w(`| | ${brokers.map((b) => NAME[b] ?? b).join(' | ')} |`);
w(`|---|${brokers.map(() => '---').join('|')}|`);
const halfRows = [
  ['baseline (broker → 1 STOMP subscriber) p50 / p99', (e, bs) => (bs ? `${ms(bs.latency_us.p50)} / ${ms(bs.latency_us.p99)}` : '—')],
  ['Encke path (broker → Encke → WebSocket) p50 / p99', (es) => (es ? `${ms(es.latency_us.p50)} / ${ms(es.latency_us.p99)}` : '—')],
  ['**added latency** p50 / p99', (es, bs) => (es && bs ? `**${ms(es.latency_us.p50 - bs.latency_us.p50)} / ${ms(es.latency_us.p99 - bs.latency_us.p99)}**${sustained(es) && sustained(bs) ? '' : ' (a run fell behind: not meaningful)'}` : '—')],
  ['rate sustained (zero loss, p99 ≤ limit, ≥ 95 % delivered): baseline / Encke path', (es, bs) => `${bs ? (sustained(bs) ? 'yes' : '**no**') : '—'} / ${es ? (sustained(es) ? 'yes' : '**no**') : '—'}`],
  ['delivered: baseline msgs/s', (es, bs) => (bs ? int(bs.delivered_per_s) : '—')],
  ['Encke path p99.9 / max', (es) => (es ? `${ms(es.latency_us.p999)} / ${ms(es.latency_us.max)}` : '—')],
  ['delivered, Encke path: broker msgs/s (deliveries/s)', (es) => (es ? `${int(es.delivered_per_s / perChannel)} (${int(es.delivered_per_s)})` : '—')],
  ['lost / duplicated / reordered (Encke path, whole run)', (es, bs, e) => (e ? `${int(e.integrity.lost)} / ${int(e.integrity.duplicates)} / ${int(e.integrity.reordered)}` : '—')],
  ['CPU, Encke path: Encke / broker / encke-bench / others', (es) => (es ? `${cpu(es.server_cpu_s, es.seconds)} / ${cpu(es.broker_cpu_s, es.seconds)} / ${cpu(es.generator_cpu_s, es.seconds)} / ${cpu(others(es), es.seconds)}` : '—')],
  ['CPU, baseline: broker / encke-bench / others', (es, bs) => (bs ? `${cpu(bs.broker_cpu_s, bs.seconds)} / ${cpu(bs.generator_cpu_s, bs.seconds)} / ${cpu(others(bs), bs.seconds)}` : '—')],
  ['Encke CPU per broker message', (es) => (es && isNum(es.server_cpu_s) ? `${sig((es.server_cpu_s * 1e6 * perChannel) / es.delivered)} µs` : '—')],
];
for (const [label, f] of halfRows) {
  const cells = brokers.map((b) => {
    const e = find(b, 'encke', 'fixed')?.report, base = find(b, 'baseline', 'fixed')?.report;
    return f(e?.steps?.[0], base?.steps?.[0], e) ?? '—';
  });
  w(`| ${label} | ${cells.join(' | ')} |`);
}
// The bridge without the fan-out, from the sweeps' steps at this rate: how much of the added
// latency is the bridge itself, and how much delivering to 1,000 sockets on a shared machine.
if (runs.some((r) => r.path === 'ingest')) {
  const cells = brokers.map((b) => {
    const i = find(b, 'ingest', 'sweep')?.report?.steps?.find((x) => x.rate === halfRate);
    const bs = find(b, 'baseline', 'sweep')?.report?.steps?.find((x) => x.rate === halfRate);
    if (!i) return '—';
    const added = bs ? `; added ${ms(i.latency_us.p50 - bs.latency_us.p50)} / ${ms(i.latency_us.p99 - bs.latency_us.p99)} against the baseline sweep's step (${ms(bs.latency_us.p50)} / ${ms(bs.latency_us.p99)})` : '';
    return `${ms(i.latency_us.p50)} / ${ms(i.latency_us.p99)}${added}${sustained(i) ? '' : ' (not sustained)'}`;
  });
  w(`| Encke ×1 (${meta.channels} subscribers, 1 per channel; sweep step) p50 / p99 | ${cells.join(' | ')} |`);
}
w();
w('CPU is a share of one CPU (100 % = one core busy); the machine has ' + (meta.nproc || '?') + '.');
w();

// ---- sweeps
for (const b of brokers) {
  w(`## Sweep: ${NAME[b] ?? b} (${BRIDGE[b] ?? ''})`);
  w();
  const base = find(b, 'baseline', 'sweep'), enc = find(b, 'encke', 'sweep'), ing = find(b, 'ingest', 'sweep');
  if (!base?.report && !enc?.report) {
    w(`${why(b, 'encke')}.`);
    w();
    continue;
  }
  w('| broker msgs/s | path | delivered msgs/s | deliveries/s | p50 | p99 | p99.9 | lost | CPU: Encke | broker | encke-bench | the three | others | Encke µs per broker msg |');
  w('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const paths = [['broker alone', base, 1, 'baseline'], [`Encke ×${perChannel}`, enc, perChannel, 'encke']];
  if (ing) paths.push(['Encke ×1', ing, 1, 'ingest']);
  const rates = [...new Set(paths.flatMap(([, run]) => run?.report?.steps ?? []).map((s) => s.rate))].sort((x, y) => x - y);
  for (const rate of rates) {
    for (const [label, run, fan, key] of paths) {
      const s = run?.report?.steps?.find((x) => x.rate === rate);
      if (!s) {
        w(`| ${int(rate)} | ${label} | ${run?.report ? 'not reached (the sweep stopped before)' : why(b, key)} | | | | | | | | | | | |`);
        continue;
      }
      const flag = sustained(s) ? '' : ' ✗';
      const gen = `${cpu(s.generator_cpu_s, s.seconds)}${s.generator_bottleneck ? ' ⚠' : ''}`;
      const three = [s.server_cpu_s, s.broker_cpu_s, s.generator_cpu_s].filter((v) => isNum(v) && v > 0).reduce((x, y) => x + y, 0);
      const perMsg = isNum(s.server_cpu_s) && s.server_cpu_s >= 0 && s.delivered ? `${sig((s.server_cpu_s * 1e6 * fan) / s.delivered)} µs` : '—';
      // Nothing arrived in the window: no latency to show (the histogram is empty, not zero).
      const lat = (v) => (s.delivered ? ms(v) : '—');
      w(`| ${int(rate)} | ${label}${flag} | ${int(s.delivered_per_s / fan)} | ${int(s.delivered_per_s)} | ${lat(s.latency_us.p50)} | ${lat(s.latency_us.p99)} | ${lat(s.latency_us.p999)} | ${int(s.lost)} | ${cpu(s.server_cpu_s, s.seconds)} | ${cpu(s.broker_cpu_s, s.seconds)} | ${gen} | ${cpu(three, s.seconds)} | ${cpu(others(s), s.seconds)} | ${perMsg} |`);
    }
  }
  w();
  w(`"broker alone": the baseline, 1 STOMP subscriber on the broker. "Encke ×${perChannel}": ${int(Number(meta.subscribers))} WebSocket subscribers, each message to ${perChannel}. ${ing ? `"Encke ×1": ${meta.channels} subscribers, 1 per channel (the bridge without the fan-out). ` : ''}CPU in % of one core; "the three" = Encke + broker + encke-bench, out of ${Number(meta.nproc) * 100 || '?'} % on this machine. ✗: not sustained (loss, p99 over ${p99Limit} ms, or under 95 % of the rate delivered). ⚠: encke-bench itself was over 90 % busy.`);
  w();
}

// ---- runs
w('## Runs');
w();
w('| run | status | seconds | integrity (expected / received / lost) | command |');
w('|---|---|---:|---|---|');
for (const r of runs) {
  const i = r.report?.integrity;
  const integ = i ? `${int(i.expected)} / ${int(i.received)} / ${int(i.lost)}` : '—';
  w(`| ${r.id}${r.mode === 'warmup' ? ' (warm-up, not reported)' : ''} | ${r.status} | ${r.seconds} | ${integ} | \`${r.command.replace(/\|/g, '\\|')}\` |`);
}
for (const [b, p, reason] of skipped) w(`| ${b} ${p} | not measured | | | ${reason.replace(/\|/g, '\\|')} |`);
w();
process.stdout.write(out.join('\n'));
