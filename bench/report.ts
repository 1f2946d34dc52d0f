import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { OpenLoopSuiteRow, SuiteRow } from './h2load-suite.js';
import { evenPacing } from './h2load.js';
import type { LoadResult } from './load-generator.js';
import type { StoreBenchRow } from './store.js';

/** Median and spread (min–max) of one figure over the runs of a scenario. */
export interface Figure {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

export function figure(values: number[]): Figure {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const r = (v: number): number => Math.round(v * 100) / 100;
  return { median: r(median), min: r(sorted[0] ?? 0), max: r(sorted[sorted.length - 1] ?? 0), runs: values.map(r) };
}

/** One scenario over its runs. */
export interface ScenarioResult {
  name: string;
  description: string;
  throughput: Figure;
  p50: Figure;
  p99: Figure;
  failed: number;
  results: LoadResult[];
}

export function scenario(name: string, description: string, results: LoadResult[]): ScenarioResult {
  return {
    name,
    description,
    throughput: figure(results.map((r) => r.throughput)),
    p50: figure(results.map((r) => r.latency.p50)),
    p99: figure(results.map((r) => r.latency.p99)),
    failed: results.reduce((n, r) => n + r.failed, 0),
    results,
  };
}

export function machineInfo(): Record<string, string | number> {
  const cpus = os.cpus();
  return { node: process.version, platform: `${os.type()} ${os.release()}`, cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, memoryGiB: Math.round(os.totalmem() / 2 ** 30) };
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const spread = (f: Figure, digits = 0): string => `${fmt(f.median, digits)} (${fmt(f.min, digits)}–${fmt(f.max, digits)})`;

/** A hand-made SVG line chart: one or more series of (x, y) points with labelled axes. */
export function lineChart(title: string, xLabel: string, yLabel: string, series: { name: string; points: [number, number][] }[], logX = false): string {
  const W = 640;
  const H = 360;
  const m = { l: 70, r: 160, t: 36, b: 50 };
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => (logX ? Math.log10(p[0]) : p[0]));
  const ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs, x0 + 1e-9);
  const y1 = Math.max(...ys, 1e-9) * 1.1;
  const px = (x: number): number => m.l + (((logX ? Math.log10(x) : x) - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number): number => H - m.b - (y / y1) * (H - m.t - m.b);
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - m.r / 2}" y="20" text-anchor="middle" font-size="14">${title}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`,
    `<text x="${(m.l + W - m.r) / 2}" y="${H - 12}" text-anchor="middle">${xLabel}</text>`,
    `<text x="16" y="${(m.t + H - m.b) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(m.t + H - m.b) / 2})">${yLabel}</text>`,
  ];
  for (let i = 0; i <= 4; i += 1) {
    const y = (y1 / 4) * i;
    out.push(`<line x1="${m.l - 4}" y1="${py(y)}" x2="${W - m.r}" y2="${py(y)}" stroke="#ddd"/><text x="${m.l - 6}" y="${py(y) + 4}" text-anchor="end">${fmt(y, y1 < 10 ? 1 : 0)}</text>`);
  }
  const xTicks = [...new Set(all.map((p) => p[0]))].sort((a, b) => a - b);
  for (const x of xTicks) out.push(`<text x="${px(x)}" y="${H - m.b + 16}" text-anchor="middle">${fmt(x)}</text>`);
  series.forEach((s, i) => {
    const c = colors[i % colors.length]!;
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) out.push(`<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="3" fill="${c}"/>`);
    out.push(`<rect x="${W - m.r + 12}" y="${m.t + i * 18}" width="12" height="3" fill="${c}"/><text x="${W - m.r + 30}" y="${m.t + i * 18 + 5}">${s.name}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Everything one `make bench` run measured. */
export interface BenchReport {
  command: string;
  startedAt: string;
  elapsedS: number;
  machine: Record<string, string | number>;
  settings: Record<string, number | boolean | string>;
  crypto: Record<string, number>;
  anchors: ScenarioResult[];
  scenarios: ScenarioResult[];
  curve: { concurrency: number; throughput: number; p50: number; p99: number }[];
  /** h2load, the independent generator: interleaved rounds, medians (empty when h2load is missing). */
  h2load: SuiteRow[];
  h2loadShape: { inFlight: number; connections: number; durationS: number; warmupS: number; rounds: number };
  /** h2load open loop at a fixed rate, same connections and streams, per-call latencies from its log (empty without h2load). */
  h2loadOpenLoop: OpenLoopSuiteRow[];
  /**
   * Per rate: medians over the runs of each percentile, ok and failed summed over the runs, and
   * the spread (min–max) of the p99.
   */
  openLoop: { rate: number; runs: number; ok: number; failed: number; p50: number; p99: number; p99Spread: [number, number]; p999: number; max: number }[];
  /**
   * The 1,000/s open loop again, run after the closed-loop scenarios (saturation, the cold path,
   * up to 128 callers) instead of on the warm mesh before them.
   */
  openLoopAfterLoad: BenchReport['openLoop'];
  /** The same open loop against the grpc-js echo anchors: what the sender and these cores allow. */
  openLoopAnchors: ({ description: string } & BenchReport['openLoop'][number])[];
  faults: { name: string; rate: number; windowMs: number; sent: number; failed: number; windowP99: number; windowMax: number; p99: number }[];
  revocation: { count: number; p50: number; p99: number; max: number; timedOut: number };
  scale: { identities: number; heapBytesPerIdentity: number; lookupP50Ns: number; lookupP99Ns: number; lookupP99SpreadNs?: [number, number]; mapGetP50Ns?: number; mapGetP99Ns?: number; snapshotBytes?: number; snapshotLoadMs?: number }[];
  ratios: Record<string, number>;
  /** The global store, SQLite and PostgreSQL side by side (absent when the section was not run). */
  store?: StoreBenchRow[];
  targets: { target: string; measured: string; met: boolean }[];
  notes: string[];
}

export function writeReport(report: BenchReport, resultsDir: string, docsFile: string | undefined): void {
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
  const latencySvg = lineChart(
    'Latency percentiles, open loop through the gateway',
    'tokens/s offered',
    'ms',
    ['p50', 'p99', 'p999'].map((k) => ({ name: k, points: report.openLoop.map((o) => [o.rate, o[k as 'p50' | 'p99' | 'p999']] as [number, number]) })),
  );
  const throughputSvg = lineChart(
    'Gateway → regional, closed loop',
    'concurrent callers',
    'tokens/s',
    [{ name: 'tokens/s', points: report.curve.map((c) => [c.concurrency, c.throughput] as [number, number]) }],
    true,
  );
  fs.writeFileSync(path.join(resultsDir, 'latency-percentiles.svg'), latencySvg);
  fs.writeFileSync(path.join(resultsDir, 'throughput-vs-load.svg'), throughputSvg);
  if (docsFile !== undefined) fs.writeFileSync(docsFile, markdown(report));
}

function markdown(r: BenchReport): string {
  const lines: string[] = [];
  lines.push('# Benchmarks', '');
  lines.push(`Produced by \`${r.command}\` on ${r.startedAt.slice(0, 10)} in ${Math.round(r.elapsedS)} s. Raw figures: \`bench/results/latest.json\`. What they mean and what got there: [performance.md](performance.md).`, '');
  lines.push(`Machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGiB} GiB, ${r.machine.platform}, Node ${r.machine.node}. Load generator, servers and peer share these cores, all on 127.0.0.1.`, '');
  lines.push(`Figures are the median of ${r.settings.runs} runs with the spread (min–max) in brackets; closed loop at ${r.settings.concurrency} concurrent callers over ${r.settings.channels} channels, ${r.settings.durationS} s measured after ${r.settings.warmupS} s warm-up. Workloads: ${r.settings.workloads}, each reusing one assertion, except the cold path (a fresh assertion on every call).`, '');
  lines.push('## Targets', '', '| target | measured | met |', '|---|---|---|');
  for (const t of r.targets) lines.push(`| ${t.target} | ${t.measured} | ${t.met ? 'yes' : 'no'} |`);
  lines.push('', '## h2load, the independent generator', '');
  if (r.h2load.length === 0) lines.push('Not run: h2load is missing (`apt-get install -y nghttp2-client`).', '');
  else {
    const sh = r.h2loadShape;
    lines.push(
      `h2load (nghttp2) with ${sh.inFlight} calls in flight (${sh.connections} connections × ${sh.inFlight / sh.connections} streams for gRPC over h2c; ${sh.inFlight} HTTP/1.1 connections for \`--h1\`), ${sh.durationS} s measured after ${sh.warmupS} s warm-up, ${sh.rounds} interleaved rounds (every target once per round), medians with the spread in brackets. ` +
        'gRPC calls send `content-type: application/grpc`, `te: trailers` and one framed AcquireToken request; h2load counts HTTP 200, so each gRPC target first answered a sampled call with the same bytes, whose `grpc-status` is shown. ' +
        'CPU per call is the process\'s user+system time (/proc/<pid>/stat) over the measured window divided by the calls answered in it: unlike calls/s it does not move much when other work shares the cores.',
      '',
      '| target | calls/s | mean ms | not 2xx or errored | sample | CPU µs per call | busy % of a core |',
      '|---|---|---|---|---|---|---|',
    );
    const per = (o: Record<string, number>, unit: string): string => Object.entries(o).map(([k, v]) => `${k} ${fmt(v)}${unit}`).join(', ');
    for (const h of r.h2load) lines.push(`| ${h.description} | ${spread(h.rps)} | ${spread(h.meanMs, 2)} | ${h.failed} | ${h.sample} | ${per(h.cpuUsPerCall, '')} | ${per(h.busyPct, ' %')} |`);
  }
  if (r.h2loadOpenLoop.length > 0) {
    const sh = r.h2loadShape;
    const o0 = r.h2loadOpenLoop[0]!;
    const even = r.h2loadOpenLoop.find((o) => o.pacing === 'even');
    lines.push(
      '',
      '### h2load open loop',
      '',
      `h2load \`--rps\` at ${fmt(o0.rate)} calls/s in all, ${sh.durationS} s measured after ${sh.warmupS} s warm-up, ${o0.runs.length} interleaved rounds per pacing, run before the saturating h2load rounds above and after the lean client's closed-loop scenarios. ` +
        'h2load\'s pacing timer fires at most every 10 ms per connection. ' +
        (even === undefined ? '' : evenText(even)) +
        `**In bursts** (h2load's default shape, reported beside it): ${sh.connections} connections × ${fmt(o0.rate / sh.connections)}/s, so each connection sends up to ${fmt(o0.rate / sh.connections / 100)} calls at once every 10 ms. ` +
        'Percentiles are over every call of the measured window from h2load\'s `--log-file` (a call\'s time runs from its HEADERS frame to the end of its response; calls started during the warm-up are left out); failed counts calls not answered with HTTP 200. ' +
        'The echo anchor, same rate and pacing, shows what the pacing and these cores cost.',
      '',
      '| target | pacing | run | calls | failed | p50 ms | p99 ms | p99.9 ms | max ms |',
      '|---|---|---|---|---|---|---|---|---|',
    );
    for (const o of r.h2loadOpenLoop) {
      o.runs.forEach((x, i) => lines.push(`| ${o.description} | ${o.pacing} | ${i + 1} | ${x.calls} | ${x.failed} | ${fmt(x.p50, 2)} | ${fmt(x.p99, 2)} | ${fmt(x.p999, 2)} | ${fmt(x.max, 1)} |`));
      lines.push(`| ${o.description} | ${o.pacing} | worst p99 of ${o.runs.length} | ${o.runs.reduce((n, x) => n + x.calls, 0)} | ${o.failed} | | **${fmt(o.worstP99, 2)}** | | |`);
    }
  }
  lines.push('', '## Throughput and latency (lean client)', '', '| scenario | tokens or calls/s | p50 ms | p99 ms | failed |', '|---|---|---|---|---|');
  for (const s of [...r.scenarios, ...r.anchors]) lines.push(`| ${s.description} | ${spread(s.throughput)} | ${spread(s.p50, 2)} | ${spread(s.p99, 2)} | ${s.failed} |`);
  lines.push('', '## Ratios (medians, same run)', '', '| ratio | value |', '|---|---|');
  for (const [k, v] of Object.entries(r.ratios)) lines.push(`| ${k} | ${fmt(v, 2)} |`);
  lines.push('', '## Crypto floor (ES256, one process, ops/s)', '', '| operation | jose 6 | node:crypto |', '|---|---|---|');
  lines.push(`| sign | ${fmt(r.crypto.joseSign ?? 0)} | ${fmt(r.crypto.nodeSign ?? 0)} |`, `| verify | ${fmt(r.crypto.joseVerify ?? 0)} | ${fmt(r.crypto.nodeVerify ?? 0)} |`);
  lines.push('', '## Throughput against load (gateway → regional, closed loop)', '', '| callers | tokens/s | p50 ms | p99 ms |', '|---|---|---|---|');
  for (const c of r.curve) lines.push(`| ${c.concurrency} | ${fmt(c.throughput)} | ${fmt(c.p50, 2)} | ${fmt(c.p99, 2)} |`);
  lines.push('', '![throughput against load](../bench/results/throughput-vs-load.svg)', '');
  const p99 = (o: BenchReport['openLoop'][number]): string => `${fmt(o.p99, 2)}${o.runs > 1 ? ` (${fmt(o.p99Spread[0], 2)}–${fmt(o.p99Spread[1], 2)})` : ''}`;
  lines.push(
    '## Open loop through the gateway',
    '',
    `Each rate runs ${r.openLoop[0]?.runs ?? 1} times; percentiles are medians over the runs, with the spread of the p99 in brackets, and calls are counted over all runs. `
      + 'The rates run on a warm mesh (every workload cached, the gateway primed by a 3 s closed loop at 16 callers) before the closed-loop scenarios; '
      + 'the last row is the same open loop run again after them (saturation, the cold path, up to 128 callers).',
    '',
  );
  lines.push('| offered tokens/s | ok | failed | p50 ms | p99 ms | p99.9 ms | max ms |', '|---|---|---|---|---|---|---|');
  const row = (o: BenchReport['openLoop'][number], label: string): string => `| ${label} | ${o.ok} | ${o.failed} | ${fmt(o.p50, 2)} | ${p99(o)} | ${fmt(o.p999, 2)} | ${fmt(o.max, 1)} |`;
  for (const o of r.openLoop) lines.push(row(o, String(o.rate)));
  for (const o of r.openLoopAfterLoad) lines.push(row(o, `${o.rate}, after the closed-loop scenarios`));
  if (r.openLoopAnchors.length > 0) {
    lines.push('', 'The same sender and schedule against servers that do nothing but answer, minutes earlier on the same cores:', '', '| anchor | offered calls/s | ok | failed | p50 ms | p99 ms | p99.9 ms | max ms |', '|---|---|---|---|---|---|---|---|');
    for (const o of r.openLoopAnchors) lines.push(`| ${o.description} | ${o.rate} | ${o.ok} | ${o.failed} | ${fmt(o.p50, 2)} | ${p99(o)} | ${fmt(o.p999, 2)} | ${fmt(o.max, 1)} |`);
  }
  lines.push('', '![latency percentiles](../bench/results/latency-percentiles.svg)', '');
  lines.push('## Faults during open-loop load through the gateway', '', '| fault | rate/s | calls | failed | p99 in the fault window ms | max in the window ms | p99 whole run ms |', '|---|---|---|---|---|---|---|');
  for (const f of r.faults) lines.push(`| ${f.name} | ${f.rate} | ${f.sent} | ${f.failed} | ${fmt(f.windowP99, 2)} | ${fmt(f.windowMax, 1)} | ${fmt(f.p99, 2)} |`);
  lines.push('', '## Revocation propagation to regional', '', `${r.revocation.count} disables, each timed from the admin call's return until regional refuses the client: p50 ${fmt(r.revocation.p50, 1)} ms, p99 ${fmt(r.revocation.p99, 1)} ms, max ${fmt(r.revocation.max, 1)} ms, ${r.revocation.timedOut} not seen within 3 s.`, '');
  if (r.store !== undefined && r.store.length > 0) lines.push(...storeMarkdown(r.store));
  const us = (ns: number | undefined): string => (ns === undefined ? '–' : `${fmt(ns / 1000, 2)} µs`);
  lines.push('## Scale (in process)', '', '| identities | heap per cached identity | lookup p50 | lookup p99 | anchor Map.get p50 | anchor Map.get p99 | backup snapshot size | snapshot load (verify + decode) |', '|---|---|---|---|---|---|---|---|');
  for (const s of r.scale) lines.push(`| ${fmt(s.identities)} | ${fmt(s.heapBytesPerIdentity)} B | ${us(s.lookupP50Ns)} | ${us(s.lookupP99Ns)}${s.lookupP99SpreadNs === undefined ? '' : ` (${us(s.lookupP99SpreadNs[0])}–${us(s.lookupP99SpreadNs[1])})`} | ${us(s.mapGetP50Ns)} | ${us(s.mapGetP99Ns)} | ${s.snapshotBytes === undefined ? '–' : `${fmt(s.snapshotBytes / 2 ** 20, 1)} MiB`} | ${s.snapshotLoadMs === undefined ? '–' : `${fmt(s.snapshotLoadMs, 1)} ms`} |`);
  lines.push('', `Each figure is the median of ${r.settings.runs} runs, each in a fresh process, with the spread (min–max) of the lookup p99 in brackets. ` + 'Lookup latency is the time per lookup of the regional `DirectoryCache` (`read(tenantId, clientId)`), timed over batches of 64 lookups (one lookup is below the timer resolution) of random cached clients. The timed pass follows a warm-up pass over other random keys whose timings are discarded, and every key is a freshly decoded string, as a request delivers it, so no hash is cached from earlier lookups. The anchor is a plain `Map.get` by client id over the same number of identities, timed the same way with the same kind of keys: what one hash lookup costs on this machine at that size. Heap per identity counts the V8 heap and array buffers (the cache keeps its table in one).', '');
  if (r.notes.length > 0) lines.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), '');
  // What was measured about where the time goes, and what each change bought, is written by hand
  // and kept across runs.
  const findings = path.resolve(__dirname, '..', '..', 'bench', 'findings.md');
  if (fs.existsSync(findings)) lines.push(fs.readFileSync(findings, 'utf8').trimEnd(), '');
  return lines.join('\n');
}

/** Store targets from issue 19, met or not, for the targets table. */
export function storeTargets(rows: StoreBenchRow[]): BenchReport['targets'] {
  const out: BenchReport['targets'] = [];
  const ms = (v: number | undefined): string => (v === undefined ? 'not within 30 s' : `${fmt(v)} ms`);
  for (const row of rows) {
    const p = row.propagation;
    out.push({ target: `store ${row.engine}: revoke propagation p99 ≤ 200 ms to ${row.engine === 'postgres' ? 'a regional watching the other global instance' : 'a regional watching the single instance'}`, measured: `p50 ${fmt(p.p50, 1)} ms, p99 ${fmt(p.p99, 1)} ms over ${p.count} (${p.timedOut} not seen within 3 s)`, met: p.p99 <= 200 && p.timedOut === 0 });
    out.push({ target: `store ${row.engine}: admin writes succeed within 2 s of a global instance's kill -9${row.engine === 'sqlite' ? ' (single instance: restarted)' : ''}`, measured: ms(row.globalKillMs), met: row.globalKillMs !== undefined && row.globalKillMs <= 2000 });
    if (row.engine === 'postgres') out.push({ target: 'store postgres: admin writes succeed within 10 s of the primary\'s kill -9 (standby promoted)', measured: ms(row.primaryKillMs), met: row.primaryKillMs !== undefined && row.primaryKillMs <= 10_000 });
  }
  return out;
}

/** The global store section of the report. */
export function storeMarkdown(rows: StoreBenchRow[]): string[] {
  const ms = (v: number | undefined): string => (v === undefined ? 'not within 30 s' : fmt(v));
  const lines = [
    '## Global store: SQLite and PostgreSQL',
    '',
    'Real processes on 127.0.0.1. SQLite: one global instance (the engine is embedded). PostgreSQL: a primary with a synchronous standby, global-1 and global-2 on it, '
      + 'the regional given global-2 only while revokes are written through global-1. Admin writes are CreateApp calls through the admin gRPC API in a bounded closed loop. '
      + 'Propagation is timed from the SetAppEnabled(false) call\'s return until the regional refuses the client. The kill figures run admin writes through every instance '
      + 'in a loop and time the kill -9 to the first write that succeeds after it (SQLite: the instance restarted in place; PostgreSQL primary: the standby promoted at once). '
      + 'The export reads every tenant, identity and signing key at one revision (`exportState()`) and encodes them as the backup\'s lines, unsigned; its identities are loaded in bulk with SQL.',
    '',
    '| engine | writes/s | write p50 ms | write p99 ms | write failures | revoke p50 ms | revoke p99 ms | revoke max ms | export identities | export ms | export size | writes again after global kill -9 ms | after primary kill -9 ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.engine} | ${fmt(r.writes.perSecond)} | ${fmt(r.writes.p50, 2)} | ${fmt(r.writes.p99, 2)} | ${r.writes.failed} | ${fmt(r.propagation.p50, 1)} | ${fmt(r.propagation.p99, 1)} | ${fmt(r.propagation.max, 1)} | ${fmt(r.export.identities)} | ${fmt(r.export.ms)} | ${fmt(r.export.bytes / 2 ** 20, 1)} MiB | ${ms(r.globalKillMs)} | ${r.engine === 'postgres' ? ms(r.primaryKillMs) : '–'} |`,
    );
  }
  lines.push('');
  return lines;
}

/** The report's words on the evenly paced open loop. */
function evenText(o: OpenLoopSuiteRow): string {
  const p = evenPacing(o.rate);
  return `**Evenly paced** (judged): ${p.connections} connections × ${fmt(p.perConnection)}/s, opened ${fmt(p.periodMs, 2)} ms apart (\`-r 1 --rate-period\`), so about one call leaves every ${fmt(p.periodMs, 2)} ms; a count of calls (\`-n\`) with the warm-up cut from the log by start time; before the first round ${fmt(o.settleS)} s at the rate through each target, not measured, since the section follows the saturating throughput curve (the lean client's open loop, judged on a mesh that has not been saturated yet, and its run after load are in the table below). `;
}
