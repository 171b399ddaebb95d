#!/usr/bin/env node
// bench/report.mjs — renders a bench/compare run folder.
//
//   node bench/report.mjs RUN_DIR > docs/benchmarks.md   markdown on stdout; the charts are written to
//                                                          RUN_DIR/benchmarks.png and benchmarks-ceiling.png
//   node bench/report.mjs --targets RUN_DIR               the targets, one plain line each
//   node bench/report.mjs --summary RUN.json              one line about one encke-bench JSON report
//
// Input: RUN_DIR/meta.tsv (key<TAB>value), RUN_DIR/runs.tsv (one row per run, header first) and the
// JSON report of each run (the encke-bench --json format). A run without a usable JSON report is shown
// as failed, never left out.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { int, isNum, ms, sig } from './lib/format.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SERVERS = ['encke', 'nchan', 'faye'];
const NAME = { encke: 'Encke', nchan: 'nginx + nchan', faye: 'Faye' };
const SHORT = { encke: 'Encke', nchan: 'nchan', faye: 'Faye' };
const TRANSPORTS = ['websocket', 'long-polling'];
const COMETD_W2 = { delivered_per_s: 91853, p99_ms: 52 };

// ---------------------------------------------------------------- formatting
const us = (v) => (isNum(v) && v >= 0 ? `${sig(v)} µs` : '—'); // -1: not measured
const mib = (kib) => (isNum(kib) ? `${sig(kib / 1024)} MiB` : '—');
const pct = (v) => (isNum(v) ? `${sig(v * 100, 2)} %` : '—');
const bytes = (v) => (isNum(v) ? `${sig(v / 1024)} KiB (${int(v)} B)` : '—');
// The factor by which Encke is better: >1 better, <1 worse.
function edge(encke, other, lowerIsBetter) {
  if (!isNum(encke) || !isNum(other)) return '—';
  if (lowerIsBetter) {
    if (encke === 0) return other === 0 ? '1×' : '∞';
    return `${sig(other / encke, 2)}×`;
  }
  if (other === 0) return encke === 0 ? '1×' : '∞';
  return `${sig(encke / other, 2)}×`;
}
const rateList = (csv) => String(csv || '').split(',').filter(Boolean).map((x) => int(Number(x))).join(', ');
const esc = (s) => String(s).replace(/\|/g, '\\|');

// ---------------------------------------------------------------- input
function readTsv(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length);
  const head = lines.shift().split('\t');
  return lines.map((l) => {
    const cells = l.split('\t');
    const o = {};
    head.forEach((h, i) => (o[h] = cells[i] ?? ''));
    return o;
  });
}
function readMeta(dir) {
  const meta = {};
  const file = path.join(dir, 'meta.tsv');
  if (!fs.existsSync(file)) return meta;
  for (const l of fs.readFileSync(file, 'utf8').split('\n')) {
    const i = l.indexOf('\t');
    if (i > 0) meta[l.slice(0, i)] = l.slice(i + 1);
  }
  return meta;
}
function readJson(file) {
  try {
    return { data: JSON.parse(fs.readFileSync(file, 'utf8')) };
  } catch (e) {
    return { error: e.code === 'ENOENT' ? 'no JSON report' : `unreadable JSON report (${e.message})` };
  }
}
function loadRun(dir) {
  const file = path.join(dir, 'runs.tsv');
  if (!fs.existsSync(file)) throw new Error(`${file} not found: is ${dir} a bench/compare run folder?`);
  const runs = readTsv(file).map((r) => {
    const { data, error } = r.json ? readJson(path.join(dir, r.json)) : { error: 'no JSON report' };
    const m = /--delivery-rate (\S+)/.exec(r.command || '');
    return { ...r, data: data ?? null, jsonError: error, requestedRates: m ? m[1].split(',').map(Number) : [] };
  });
  return { dir, meta: readMeta(dir), runs };
}
const find = (runs, workload, mode, server, transport) =>
  runs.filter((r) => r.workload === workload && r.mode === mode && r.server === server && r.transport === transport).pop();

// ---------------------------------------------------------------- per-run facts
function integrityClean(d) {
  const i = d?.integrity;
  return !!i && i.lost === 0 && i.duplicates === 0 && i.reordered === 0;
}
function problem(r) {
  // why a run's numbers cannot be taken at face value (null = none)
  if (!r) return 'not run';
  if (!r.data) return `${r.status}${r.jsonError ? `, ${r.jsonError}` : ''}`;
  if (r.status !== 'ok') return r.status;
  if (!integrityClean(r.data)) return 'integrity failure';
  return null;
}
function ceilingOf(r) {
  // {value, step, lowerBound, none} from a sweep run, or null when unusable
  const d = r?.data;
  if (!d || !Array.isArray(d.steps)) return null;
  if (!d.ceiling) return { value: 0, none: true, lossy: (d.integrity?.lost || 0) > 0 };
  const idx = d.steps.findIndex((s) => s.rate === d.ceiling.rate);
  const step = idx >= 0 ? d.steps[idx] : null;
  const lowerBound = idx === d.steps.length - 1 && r.requestedRates.length > 0 && d.steps.length >= r.requestedRates.length;
  return { value: d.ceiling.delivered_per_s, p99_us: d.ceiling.p99_us, step, lowerBound, none: false };
}
const ceilingText = (c, limit) =>
  !c ? '—' : c.none ? (c.lossy ? 'none (messages lost)' : `none within ${limit} ms`) : `${c.lowerBound ? '≥ ' : ''}${int(c.value)}/s`;
// Encke's ceiling ≥ factor × the other's: true, false, or null when a ceiling that is only a lower
// bound (the sweep's top step passed) leaves it open.
function atLeastTimes(e, o, factor) {
  if (e.none) return false;
  if (o.none) return true;
  const holds = e.value >= factor * o.value;
  if (e.lowerBound && o.lowerBound) return null;
  if (e.lowerBound) return holds ? true : null;
  if (o.lowerBound) return holds ? null : false;
  return holds;
}
const and = (a, b) => (a === false || b === false ? false : a === null || b === null ? null : true);
function ceilingEdge(e, o) {
  if (o.none) return '∞';
  if (e.lowerBound && o.lowerBound) return 'both at the top step';
  return `${e.lowerBound ? '≥ ' : o.lowerBound ? '≤ ' : ''}${edge(e.value, o.value, false)}`;
}
const fixedStep = (r) => (r?.data?.steps?.length ? r.data.steps[r.data.steps.length - 1] : null);
function genMax(d) {
  let util = null;
  let bottleneck = 0;
  for (const s of d?.steps ?? []) {
    if (isNum(s.generator_cpu_util)) util = Math.max(util ?? 0, s.generator_cpu_util);
    if (s.generator_bottleneck) bottleneck++;
  }
  return { util, bottleneck };
}

// ---------------------------------------------------------------- markdown pieces
// align: 'l' (every column left) or the default (first column left, the others right: numbers).
function table(header, rows, align = '') {
  const out = [`| ${header.map(esc).join(' | ')} |`, `|${header.map((_, i) => (i === 0 || align === 'l' ? ':---' : '---:')).join('|')}|`];
  for (const r of rows) out.push(`| ${r.map((c) => esc(c ?? '—')).join(' | ')} |`);
  return out.join('\n');
}
// Metric rows with one column per server and Encke's edge over each other server.
function sideBySide(servers, runsBy, metrics) {
  const others = servers.filter((s) => s !== 'encke');
  const header = ['', ...servers.map((s) => NAME[s])];
  if (servers.includes('encke')) for (const o of others) header.push(`Encke's edge over ${SHORT[o]}`);
  const rows = metrics.map((m, mi) => {
    const vals = servers.map((s) => (runsBy[s]?.data ? m.get(runsBy[s]) : undefined));
    // A run without a report: "failed" in the first row, its reason in the "run" row, "—" between.
    const row = [m.label, ...vals.map((v, i) => (runsBy[servers[i]]?.data || m.label === 'run' ? m.fmt(v) : mi === 0 ? cellFor(runsBy[servers[i]]) : '—'))];
    if (servers.includes('encke')) {
      // m.num turns a cell value into a number; m.atLeast says the number is only a lower bound.
      const num = (v) => (m.num ? m.num(v) : v);
      const atLeast = (v) => !!(m.atLeast && v && m.atLeast(v));
      const e = vals[servers.indexOf('encke')];
      for (const o of others) {
        const v = vals[servers.indexOf(o)];
        if (!m.better) row.push('');
        else if (atLeast(e) && atLeast(v)) row.push('? (both at the top step)');
        else {
          const x = edge(num(e), num(v), m.better === 'lower');
          row.push(x === '—' ? x : `${atLeast(e) ? '≥ ' : atLeast(v) ? '≤ ' : ''}${x}`);
        }
      }
    }
    return row;
  });
  return table(header, rows);
}
const cellFor = (r) => (r ? '**failed**' : 'not run');
function statusRow() {
  return {
    label: 'run',
    get: (r) => r,
    fmt: (r) => {
      if (!r) return 'not run';
      const p = problem(r);
      return p ? `**${p}** (exit ${r.exit})` : 'ok';
    },
  };
}

// ---------------------------------------------------------------- the report
function render(run) {
  const { meta, runs, dir } = run;
  const quick = meta.quick === '1';
  const present = (k) => SERVERS.filter((s) => runs.some((r) => r.server === s && r.workload === k));
  const out = [];
  const p = (...l) => out.push(...l);

  p('# Benchmarks: Encke, Faye and nginx + nchan', '');
  p('<!-- Generated by bench/compare (node bench/report.mjs RUN_DIR). Do not edit by hand: rerun bench/compare. -->', '');
  p(
    'Encke, [Faye](https://faye.jcoglan.com/) 1.4 (Node) and [nginx + nchan](https://nchan.io/) serve the same',
    'publish/subscribe load on one machine, **one server thread each** (Encke `--threads 1`, one nginx worker,',
    'one Node process), over loopback, each freshly started for every run. The load generator is',
    '`encke-bench` (C++, `bench/encke_bench/`), pinned to another CPU than the server. It speaks Bayeux to',
    'Encke and Faye and nchan\'s own protocol to nchan (one connection per subscriber to',
    '`/sub/<id1>,<id2>,…`, publishes as `POST /pub/<id>`), measures end-to-end latency (publish → delivery),',
    'the server\'s CPU time and memory (summed over its processes), and checks that every subscriber got',
    'every message once and in order. How to rerun, the exact workloads and the server configurations are in',
    '[bench/README.md](../bench/README.md).',
    '',
    '- **W1 throughput**: 1,000 subscribers on 10 channels (1 each), 100-byte payload, WebSocket and long-polling.',
    '  (a) a fixed 20,000 deliveries/s: server CPU per delivered message, latency (this run is also **W5**,',
    '  latency under moderate load); (b) a sweep of rising rates: the **ceiling** is the highest delivered',
    `  rate whose p99 stays ≤ ${meta.p99_limit_ms || 100} ms with no loss.`,
    "- **W2 CometD's topology**: 1,000 subscribers, 100 channels, 10 each, 50-byte payload, WebSocket, the same sweep.",
    '- **W3 idle capacity**: many idle subscribers; memory per connection and the time one broadcast takes to',
    '  reach all of them. **W4 connect rate** comes from the same run: complete handshake + subscribe + first',
    '  connect per second.',
    '',
    "In the tables, **Encke's edge over X** is the factor by which Encke is better: lower CPU, latency or",
    'memory, or higher throughput; above 1× Encke is better, below 1× it is worse.',
    '',
  );
  if (quick) {
    p(
      '> **Quick run** (`BENCH_QUICK=1`): smaller sizes and shorter steps than the workloads above, for',
      '> checking the harness. The figures are indicative only; the targets are judged on them anyway.',
      '',
    );
  }
  const deviations = [];
  if (meta.subscribers && meta.subscribers !== '1000') deviations.push(`${meta.subscribers} subscribers instead of 1,000`);
  if (meta.capacity && meta.capacity !== '19900') deviations.push(`capacity ${int(Number(meta.capacity))} instead of 19,900`);
  if (meta.fixed_rate && meta.fixed_rate !== '20000') deviations.push(`fixed rate ${int(Number(meta.fixed_rate))}/s instead of 20,000/s`);
  if (deviations.length && !quick) p(`> Sizes differ from the workloads above: ${deviations.join('; ')}.`, '');

  // -------- setup
  p('## Setup', '');
  const ram = Number(meta.ram_kib);
  p(
    table(
      ['', ''],
      [
        ['date', meta.date],
        ['command', meta.command ? `\`${meta.command}\`${meta.env ? ` with \`${meta.env}\`` : ''}` : '—'],
        ['machine', `${meta.cpu || '?'}, ${meta.cpus || '?'} CPUs${meta.virtualization ? ` (${meta.virtualization} VM)` : ''}, ${isNum(ram) ? `${sig(ram / 1048576)} GiB RAM` : '?'}`],
        ['system', `Debian ${meta.debian || '?'}, ${meta.kernel || '?'}`],
        ['pinning', meta.pinning || '—'],
        ['open-file limit', meta.nofile || '—'],
        ['Encke', `${meta.encke || '?'} (git ${meta.git || '?'}); settings other than the defaults: \`${meta.encke_config || '?'}\``],
        ['load generator', `\`${meta.encke_bench || 'build/release/encke-bench'}\` (bench/encke_bench/, the same tree), 1 thread`],
        ['nginx + nchan', `${meta.nginx || 'nginx ?'}, libnginx-mod-nchan ${meta.nchan || '?'} (bench/peers/nchan.conf.in)`],
        ['Faye', `faye ${meta.faye || '?'} on Node ${meta.node || '?'} (bench/peers/faye-server.cjs)`],
        ['runs', `${runs.length} (${runs.filter((r) => r.status === 'ok').length} ok), run folder \`${path.basename(dir)}\``],
      ],
      'l',
    ),
    '',
  );

  // -------- targets
  const targets = computeTargets(run);
  p('## Targets', '');
  p(table(['target', 'result', 'figures'], targets.map((t) => [t.name, verdict(t), t.figures]), 'l'), '');

  // -------- W1a / W5
  if (runs.some((r) => r.workload === 'W1' && r.mode === 'fixed')) {
    const servers = present('W1');
    p(`## W1 throughput at a fixed ${int(Number(meta.fixed_rate || 20000))} deliveries/s (also W5, latency under moderate load)`, '');
    p(`${int(Number(meta.subscribers))} subscribers, ${int(10)} channels, 100-byte payload, ${meta.publishers || '?'} publishers.`, '');
    if (meta.sendfloor_us) {
      p(`At this rate each subscriber gets about 20 messages a second, so every server writes each delivery ` +
        `on its own: one small loopback write. \`encke-sendfloor\`, run pinned like the servers in the same ` +
        `pattern (bursts to 100 of 1,000 sockets, 200 bursts a second, 200 bytes), measured **${us(Number(meta.sendfloor_us))} ` +
        `of writer CPU per write** on this machine (on loopback the kernel runs the receiving side of TCP and ` +
        `wakes the reader in the writer's context). No server writing one delivery per system call can go ` +
        `below that; see docs/performance.md.`, '');
    }
    for (const t of TRANSPORTS) {
      const runsBy = Object.fromEntries(servers.map((s) => [s, find(runs, 'W1', 'fixed', s, t)]));
      if (!Object.values(runsBy).some(Boolean)) continue;
      p(`### ${t}`, '');
      p(
        sideBySide(servers, runsBy, [
          { label: 'delivered msgs/s', get: (r) => fixedStep(r)?.delivered_per_s, fmt: int },
          { label: 'server CPU per delivery', get: (r) => fixedStep(r)?.server_cpu_us_per_delivery, fmt: us, better: 'lower' },
          { label: 'latency p50', get: (r) => fixedStep(r)?.latency_us?.p50, fmt: ms, better: 'lower' },
          { label: 'latency p99', get: (r) => fixedStep(r)?.latency_us?.p99, fmt: ms, better: 'lower' },
          { label: 'latency p99.9', get: (r) => fixedStep(r)?.latency_us?.p999, fmt: ms, better: 'lower' },
          { label: 'latency max', get: (r) => fixedStep(r)?.latency_us?.max, fmt: ms, better: 'lower' },
          { label: 'server peak RSS', get: (r) => fixedStep(r)?.server_peak_rss_kib, fmt: mib, better: 'lower' },
          { label: 'generator CPU', get: (r) => fixedStep(r)?.generator_cpu_util, fmt: pct },
          statusRow(),
        ]),
        '',
      );
    }
  }

  // -------- W1b and W2 sweeps
  const sweepSection = (workload, title, intro) => {
    if (!runs.some((r) => r.workload === workload && r.mode === 'sweep')) return;
    const servers = present(workload);
    p(`## ${title}`, '', intro, '');
    for (const t of TRANSPORTS) {
      const runsBy = Object.fromEntries(servers.map((s) => [s, find(runs, workload, 'sweep', s, t)]));
      if (!Object.values(runsBy).some(Boolean)) continue;
      p(`### ${t}`, '');
      p(
        sideBySide(servers, runsBy, [
          {
            label: `ceiling (delivered msgs/s, p99 ≤ ${meta.p99_limit_ms || 100} ms)`,
            get: (r) => ceilingOf(r),
            fmt: (c) => ceilingText(c, meta.p99_limit_ms || 100).replace(/\/s$/, ''),
            better: 'higher',
            num: (c) => c?.value,
            atLeast: (c) => c.lowerBound,
          },
          { label: 'p99 at the ceiling', get: (r) => ceilingOf(r)?.p99_us, fmt: ms },
          { label: 'server CPU per delivery at the ceiling', get: (r) => ceilingOf(r)?.step?.server_cpu_us_per_delivery, fmt: us, better: 'lower' },
          { label: 'server peak RSS at the ceiling', get: (r) => ceilingOf(r)?.step?.server_peak_rss_kib, fmt: mib, better: 'lower' },
          { label: 'steps run', get: (r) => r.data.steps?.length, fmt: (v) => (isNum(v) ? String(v) : '—') },
          { label: 'generator CPU (highest step)', get: (r) => genMax(r.data).util, fmt: pct },
          statusRow(),
        ]),
        '',
      );
      p('<details><summary>every step</summary>', '');
      const rows = [];
      for (const s of servers) {
        const r = runsBy[s];
        if (!r) continue;
        if (!r.data?.steps?.length) {
          rows.push([NAME[s], `**${problem(r)}**`, '', '', '', '', '', '', '']);
          continue;
        }
        for (const st of r.data.steps) {
          rows.push([
            NAME[s],
            int(st.target_deliveries_per_s),
            int(st.rate),
            int(st.delivered_per_s),
            ms(st.latency_us?.p50),
            ms(st.latency_us?.p99),
            us(st.server_cpu_us_per_delivery),
            mib(st.server_peak_rss_kib),
            `${pct(st.generator_cpu_util)}${st.generator_bottleneck ? ' ⚠' : ''}`,
          ]);
        }
      }
      p(table(['server', 'target deliveries/s', 'publishes/s', 'delivered/s', 'p50', 'p99', 'CPU/delivery', 'peak RSS', 'generator CPU'], rows), '', '</details>', '');
    }
  };
  sweepSection(
    'W1',
    'W1 ceiling: the highest delivered rate with p99 within the limit',
    `${int(Number(meta.subscribers))} subscribers, 10 channels, 100-byte payload; delivery rates ${rateList(meta.sweep)} per second, the sweep stops after the first step over the p99 limit or with a lost message. "≥" marks a ceiling at the sweep's top step (the real one is higher).`,
  );
  if (fs.existsSync(path.join(dir, 'benchmarks.png'))) p('![W1 sweep: p99 latency vs delivered messages/s](benchmarks.png)', '');
  if (fs.existsSync(path.join(dir, 'benchmarks-ceiling.png'))) p('![W1 ceilings](benchmarks-ceiling.png)', '');
  sweepSection(
    'W2',
    "W2 CometD's topology",
    `${int(Number(meta.subscribers))} subscribers, 100 channels, 10 channels each, 50-byte payload, WebSocket; delivery rates ${rateList(meta.w2_sweep)} per second. For context, CometD's published figure for this topology is ${int(COMETD_W2.delivered_per_s)} msgs/s at p99 ${COMETD_W2.p99_ms} ms, on other hardware and with its own setup, so it is not directly comparable.`,
  );

  // -------- W3 / W4
  if (runs.some((r) => r.workload === 'W3')) {
    const servers = present('W3');
    p('## W3 idle capacity and W4 connect rate', '');
    p(`${int(Number(meta.capacity))} idle subscribers, connected as fast as possible (W4: complete handshake + subscribe + first connect per second), then one broadcast to all of them.`, '');
    for (const t of TRANSPORTS) {
      const runsBy = Object.fromEntries(servers.map((s) => [s, find(runs, 'W3', 'capacity', s, t)]));
      if (!Object.values(runsBy).some(Boolean)) continue;
      p(`### ${t}`, '');
      p(
        sideBySide(servers, runsBy, [
          { label: 'connections held', get: (r) => r.data.capacity?.connections, fmt: int },
          { label: 'RSS per idle connection', get: (r) => r.data.capacity?.rss_per_connection_bytes, fmt: bytes, better: 'lower' },
          { label: 'server RSS before connecting', get: (r) => r.data.server?.rss_before_kib, fmt: mib },
          { label: 'server RSS connected', get: (r) => r.data.server?.rss_connected_kib, fmt: mib, better: 'lower' },
          { label: 'one broadcast reaches all', get: (r) => r.data.capacity?.broadcast_ms, fmt: (v) => (isNum(v) ? `${sig(v)} ms` : '—'), better: 'lower' },
          { label: 'broadcast received by', get: (r) => r.data.capacity?.received, fmt: int },
          { label: 'W4: complete connects/s', get: (r) => r.data.connect?.per_second, fmt: int, better: 'higher' },
          { label: 'connects failed', get: (r) => r.data.connect?.failed, fmt: int },
          statusRow(),
        ]),
        '',
      );
    }
  }

  // -------- integrity and the generator
  p('## Every run: integrity and the load generator', '');
  const warnings = [];
  const rows = runs.map((r) => {
    const d = r.data;
    const g = genMax(d);
    if (g.bottleneck) {
      const steps = (d.steps || []).filter((s) => s.generator_bottleneck).map((s) => int(s.target_deliveries_per_s));
      warnings.push(`⚠ ${r.id}: the generator reported itself the bottleneck at ${steps.join(', ')} deliveries/s; ${NAME[r.server]}'s figures there are a lower bound.`);
    }
    const i = d?.integrity;
    return [
      r.id,
      `${r.workload} ${r.mode}`,
      NAME[r.server] || r.server,
      r.transport,
      r.status === 'ok' ? 'ok' : `**${r.status}** (exit ${r.exit})`,
      i ? `${int(i.received)} / ${int(i.expected)}` : '—',
      i ? `${int(i.lost)} / ${int(i.duplicates)} / ${int(i.reordered)}` : '—',
      i && isNum(i.errors) ? `${int(i.errors)} / ${int(i.rehandshakes)} / ${int(i.publish_failures)}` : '—',
      pct(g.util),
      g.bottleneck ? `⚠ ${g.bottleneck} step(s)` : d ? 'no' : '—',
      `${r.seconds} s`,
    ];
  });
  p(table(['run', 'workload', 'server', 'transport', 'status', 'received / expected', 'lost / dup / reordered', 'errors / re-handshakes / failed publishes', 'generator CPU (max)', 'generator bottleneck', 'time'], rows, 'l'), '');
  if (warnings.length) p(...warnings.flatMap((w) => [w, '']));
  else if (runs.some((r) => r.data)) p('The generator did not report itself the bottleneck in any step.', '');
  p(`Each run's JSON report, generator output and server logs are in the run folder (\`bench/out/${path.basename(dir)}/\`, not committed).`, '');
  return out.join('\n');
}

// ---------------------------------------------------------------- targets
// t.met: true, false, or null (not measured; or, with t.open and every figure present, undecided).
const verdict = (t) => (t.met === true ? '**met**' : t.met === false ? '**NOT met**' : t.open ? 'undecided' : 'not measured');
function computeTargets(run) {
  const { runs, meta } = run;
  const T = [];
  const fig = (s, v) => `${SHORT[s]} ${v}`;
  const reason = (r, s) => `${SHORT[s]}: ${problem(r)}`;
  const pLimit = Number(meta.p99_limit_ms || 100);
  // A figure from a run that was not clean is still shown (and judged), marked with the run's problem.
  const mark = (r) => (problem(r) ? ` (⚠ ${problem(r)})` : '');
  const val = (r, get) => (r?.data ? get(r) : undefined);
  for (const t of TRANSPORTS) {
    const rs = Object.fromEntries(SERVERS.map((s) => [s, find(runs, 'W1', 'fixed', s, t)]));
    if (!Object.values(rs).some(Boolean)) continue;
    // W1 efficiency
    {
      const v = Object.fromEntries(SERVERS.map((s) => [s, val(rs[s], (r) => fixedStep(r)?.server_cpu_us_per_delivery)]));
      const okv = (x) => isNum(x) && x >= 0;
      const missing = SERVERS.filter((s) => !okv(v[s])).map((s) => reason(rs[s], s));
      const figures = SERVERS.filter((s) => okv(v[s])).map((s) => `${fig(s, us(v[s]))}${s !== 'encke' && okv(v.encke) ? ` (${edge(v.encke, v[s], true)})` : ''}${mark(rs[s])}`);
      T.push({
        name: `W1 efficiency, ${t}: Encke CPU/delivery ≤ ¼ nchan's and ≤ 1/12 Faye's`,
        met: missing.length ? null : v.encke <= v.nchan / 4 && v.encke <= v.faye / 12,
        figures: [...figures, ...missing, ...(isNum(Number(meta.sendfloor_us)) && meta.sendfloor_us
          ? [`kernel floor ${us(Number(meta.sendfloor_us))} per loopback send (encke-sendfloor)`] : [])].join('; '),
      });
    }
    // W5 latency
    {
      const v = Object.fromEntries(['encke', 'nchan'].map((s) => [s, val(rs[s], (r) => fixedStep(r)?.latency_us?.p99)]));
      const missing = ['encke', 'nchan'].filter((s) => !isNum(v[s])).map((s) => reason(rs[s], s));
      const figures = ['encke', 'nchan'].filter((s) => isNum(v[s])).map((s) => `${fig(s, `p99 ${ms(v[s])}`)}${mark(rs[s])}`);
      T.push({
        name: `W5 latency, ${t}: Encke p99 ≤ 5 ms and ≤ nchan's at ${int(Number(meta.fixed_rate || 20000))} deliveries/s`,
        met: missing.length ? (isNum(v.encke) && v.encke > 5000 ? false : null) : v.encke <= 5000 && v.encke <= v.nchan,
        figures: [...figures, ...missing].join('; '),
      });
    }
  }
  for (const t of TRANSPORTS) {
    const rs = Object.fromEntries(SERVERS.map((s) => [s, find(runs, 'W1', 'sweep', s, t)]));
    if (!Object.values(rs).some(Boolean)) continue;
    const c = Object.fromEntries(SERVERS.map((s) => [s, ceilingOf(rs[s])]));
    const missing = SERVERS.filter((s) => !c[s]).map((s) => reason(rs[s], s));
    const show = (s) => `${SHORT[s]} ${ceilingText(c[s], pLimit)}${mark(rs[s])}`;
    const met = !c.encke ? null : c.encke.none ? false : missing.length ? null : and(atLeastTimes(c.encke, c.faye, 10), atLeastTimes(c.encke, c.nchan, 1));
    const open = met === null && missing.length === 0;
    T.push({
      name: `W1 ceiling, ${t}: Encke ≥ 10 × Faye and ≥ nchan`,
      met,
      open,
      figures: [
        ...SERVERS.filter((s) => c[s]).map((s) => (s !== 'encke' && c.encke && !c.encke.none ? `${show(s)} (${ceilingEdge(c.encke, c[s])})` : show(s))),
        ...missing,
        ...(open ? ['a ceiling at the sweep\'s top step leaves it open: raise BENCH_SWEEP'] : []),
      ].join('; '),
    });
  }
  for (const t of TRANSPORTS) {
    const r = find(runs, 'W3', 'capacity', 'encke', t);
    if (!r) continue;
    const v = val(r, (x) => x.data.capacity?.rss_per_connection_bytes);
    const okv = isNum(v) && (r.data.capacity?.connections || 0) > 0;
    T.push({
      name: `W3 memory, ${t}: Encke ≤ 4 KiB per idle connection`,
      met: okv ? v <= 4096 : null,
      figures: okv ? `Encke ${bytes(v)} over ${int(r.data.capacity.connections)} connections${mark(r)}` : reason(r, 'encke'),
    });
  }
  for (const t of TRANSPORTS) {
    const r = find(runs, 'W3', 'capacity', 'encke', t);
    if (!r) continue;
    const v = val(r, (x) => x.data.connect?.per_second);
    T.push({
      name: `W4 connect rate, ${t}: Encke ≥ 5,000 complete connects/s`,
      met: isNum(v) ? v >= 5000 : null,
      figures: isNum(v) ? `Encke ${int(v)}/s (${int(r.data.connect?.subscribers)} in ${sig(r.data.connect?.seconds)} s, ${int(r.data.connect?.failed)} failed)${mark(r)}` : reason(r, 'encke'),
    });
  }
  {
    const bad = runs.filter((r) => r.status !== 'ok' || !integrityClean(r.data));
    const lost = runs.reduce((a, r) => a + (r.data?.integrity?.lost || 0), 0);
    const dup = runs.reduce((a, r) => a + (r.data?.integrity?.duplicates || 0), 0);
    const reo = runs.reduce((a, r) => a + (r.data?.integrity?.reordered || 0), 0);
    const byServer = SERVERS.map((s) => {
      const mine = runs.filter((r) => r.server === s);
      const b = mine.filter((r) => bad.includes(r));
      return mine.length ? `${SHORT[s]} ${mine.length - b.length}/${mine.length} clean` : null;
    }).filter(Boolean);
    T.push({
      name: 'Integrity: zero loss, zero duplicates, in order, in every run',
      met: runs.length > 0 && bad.length === 0,
      figures: `${byServer.join(', ')}; lost ${int(lost)}, duplicates ${int(dup)}, reordered ${int(reo)}${bad.length ? `; not clean: ${bad.map((r) => `${r.id} (${problem(r) || r.status})`).join(', ')}` : ''}`,
    });
    const encBad = bad.filter((r) => r.server === 'encke');
    if (runs.some((r) => r.server === 'encke')) {
      T.push({
        name: 'Integrity, Encke runs only',
        met: encBad.length === 0,
        figures: encBad.length ? encBad.map((r) => `${r.id} (${problem(r) || r.status})`).join(', ') : `${runs.filter((r) => r.server === 'encke').length} runs clean`,
      });
    }
  }
  return T;
}

// ---------------------------------------------------------------- charts
function charts(run) {
  const { runs, dir, meta } = run;
  const COLOR = { encke: '#1b7837', nchan: '#2166ac', faye: '#b2182b' };
  const blocks = [];
  const colors = [];
  const dashes = [];
  for (const t of TRANSPORTS) {
    for (const s of SERVERS) {
      const r = find(runs, 'W1', 'sweep', s, t);
      const pts = (r?.data?.steps || []).filter((st) => isNum(st.delivered_per_s) && st.delivered_per_s > 0 && isNum(st.latency_us?.p99));
      if (!pts.length) continue;
      blocks.push([`"${NAME[s]}, ${t}"`, ...pts.map((st) => `${st.delivered_per_s} ${Math.max(st.latency_us.p99 / 1000, 0.001)}`)].join('\n'));
      colors.push(COLOR[s]);
      dashes.push(t === 'websocket' ? 1 : 2);
    }
  }
  const sweepFile = path.join(dir, 'chart-w1-sweep.dat');
  fs.writeFileSync(sweepFile, blocks.join('\n\n\n') + '\n');
  const cols = TRANSPORTS.filter((t) => SERVERS.some((s) => find(runs, 'W1', 'sweep', s, t)));
  const ceilRows = SERVERS.filter((s) => runs.some((r) => r.server === s && r.workload === 'W1' && r.mode === 'sweep')).map((s) => {
    const cs = cols.map((t) => {
      const r = find(runs, 'W1', 'sweep', s, t);
      return { r, c: r ? ceilingOf(r) : null };
    });
    const label = ({ r, c }) => (!r ? 'not run' : !c ? 'failed' : c.none ? 'none' : `${c.lowerBound ? '≥' : ''}${sig(c.value / 1000)}k`);
    return [`"${NAME[s]}"`, ...cs.map(({ c }) => (c ? c.value : 0)), ...cs.map((x) => `"${label(x)}"`)].join(' ');
  });
  const ceilFile = path.join(dir, 'chart-w1-ceiling.dat');
  fs.writeFileSync(ceilFile, [['server', ...cols.map((c) => `"${c}"`), ...cols.map((c) => `"${c} label"`)].join(' '), ...ceilRows].join('\n') + '\n');
  const out1 = path.join(dir, 'benchmarks.png');
  const out2 = path.join(dir, 'benchmarks-ceiling.png');
  for (const f of [out1, out2]) fs.rmSync(f, { force: true });
  if (!blocks.length && !ceilRows.length) return;
  const q = (s) => `'${String(s).replace(/'/g, "''")}'`;
  const sub = `${int(Number(meta.subscribers))} subscribers${meta.quick === '1' ? ', quick run' : ''}, ${meta.date || ''}`;
  const vars = {
    sweep: q(sweepFile),
    nseries: blocks.length,
    colors: q(colors.join(' ')),
    dashes: q(dashes.join(' ')),
    ceil: q(ceilFile),
    ncols: ceilRows.length ? cols.length : 0,
    barcolors: q(cols.map((t) => (t === 'websocket' ? '#4d9221' : '#8073ac')).join(' ')),
    limit: Number(meta.p99_limit_ms || 100),
    out1: q(out1),
    out2: q(out2),
    sub: q(sub),
  };
  const args = ['-e', Object.entries(vars).map(([k, v]) => `${k}=${v}`).join('; '), path.join(HERE, 'chart.gp')];
  const g = spawnSync('gnuplot', args, { encoding: 'utf8', timeout: 60000 });
  if (g.error || g.status !== 0) {
    process.stderr.write(`report: gnuplot failed (${g.error ? g.error.message : `exit ${g.status}`}): ${(g.stderr || '').trim().split('\n').slice(-3).join(' / ')}\n`);
  }
}

// ---------------------------------------------------------------- one-line summary
function summary(d) {
  const parts = [];
  if (d.capacity) {
    parts.push(`${int(d.capacity.connections)} connections, ${bytes(d.capacity.rss_per_connection_bytes)}/connection, broadcast ${sig(d.capacity.broadcast_ms)} ms`);
  } else if (d.steps?.length === 1 || (d.steps?.length && !d.ceiling && d.steps.length === 1)) {
    const s = d.steps[0];
    parts.push(`${int(s.delivered_per_s)} delivered/s, p50 ${ms(s.latency_us?.p50)}, p99 ${ms(s.latency_us?.p99)}, ${us(s.server_cpu_us_per_delivery)} CPU/delivery`);
  } else if (d.steps?.length) {
    parts.push(d.ceiling ? `ceiling ${int(d.ceiling.delivered_per_s)} delivered/s at p99 ${ms(d.ceiling.p99_us)}` : 'no step within the p99 limit');
    parts.push(`${d.steps.length} step(s)`);
  }
  if (d.connect) parts.push(`${int(d.connect.per_second)} connects/s`);
  if (d.integrity) parts.push(`lost ${int(d.integrity.lost)}, dup ${int(d.integrity.duplicates)}, reordered ${int(d.integrity.reordered)}`);
  if (genMax(d).bottleneck) parts.push('⚠ generator was the bottleneck');
  return parts.join('; ');
}

// ---------------------------------------------------------------- main
function main(argv) {
  try {
    if (argv[0] === '--summary' && argv[1]) {
      console.log(summary(JSON.parse(fs.readFileSync(argv[1], 'utf8'))));
      return 0;
    }
    if (argv[0] === '--targets' && argv[1]) {
      for (const t of computeTargets(loadRun(argv[1]))) {
        console.log(`${verdict(t).replace(/\*/g, '').padEnd(12)}  ${t.name}: ${t.figures}`);
      }
      return 0;
    }
    if (argv.length !== 1 || argv[0].startsWith('-')) {
      console.error('usage: node bench/report.mjs RUN_DIR > docs/benchmarks.md\n       node bench/report.mjs --targets RUN_DIR\n       node bench/report.mjs --summary RUN.json');
      return 2;
    }
    const run = loadRun(argv[0]);
    charts(run);
    process.stdout.write(render(run) + '\n');
    return 0;
  } catch (e) {
    console.error(`report: ${e.message}`);
    return 1;
  }
}
process.exitCode = main(process.argv.slice(2));
