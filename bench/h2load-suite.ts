/**
 * The h2load section of `make bench`: every target alive at once, `rounds` interleaved rounds
 * (each round runs every target once, in the same order), medians over the rounds. Beside each
 * run, the CPU each named process spent per call in the measured window (from /proc/<pid>/stat,
 * robust to other load on the machine where calls/s is not) and how busy it was.
 */
import fs from 'node:fs';
import { runH2load, sampleGrpcStatus, type H2loadResult, type H2loadShape, type H2loadTarget } from './h2load.js';
import { logLatency, type LogLatency } from './h2load-log.js';
import { figure, type Figure } from './report.js';

/** One target of the suite, with the processes that serve it. */
export interface SuiteTarget extends H2loadTarget {
  name: string;
  description: string;
  /** Processes whose CPU is charged to this target's calls, by name. */
  pids: Record<string, number>;
  /** gRPC targets: a sampled call must answer grpc-status 0. */
  grpc: boolean;
}

export interface SuiteRow {
  name: string;
  description: string;
  generator: 'h2load';
  rps: Figure;
  meanMs: Figure;
  /** Calls h2load counted as not 2xx or errored, over all rounds. */
  failed: number;
  /** The sampled call's grpc-status (gRPC targets), or the HTTP status (h1). */
  sample: string;
  /** Per process: CPU µs per call, median over the rounds. */
  cpuUsPerCall: Record<string, number>;
  /** Per process: share of one core in the measured window, %, median over the rounds. */
  busyPct: Record<string, number>;
}

const TICK_US = 1e6 / 100; // USER_HZ is 100 on Linux

/** utime + stime of a process (or, given its stat file, one of its threads), µs. */
export function processCpuUs(pid: number, statFile = `/proc/${pid}/stat`): number {
  const stat = fs.readFileSync(statFile, 'utf8');
  // Fields after the command (which may hold spaces) start after the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_US;
}

async function measured(bin: string, t: SuiteTarget, shape: H2loadShape): Promise<{ r: H2loadResult; cpu: Record<string, number>; busy: Record<string, number> }> {
  let before: Record<string, number> = {};
  let t0 = 0;
  const timer = setTimeout(() => {
    t0 = performance.now();
    before = Object.fromEntries(Object.entries(t.pids).map(([n, pid]) => [n, processCpuUs(pid)]));
  }, shape.warmupS * 1000);
  const r = await runH2load(bin, t, shape);
  clearTimeout(timer);
  const wallUs = (performance.now() - t0) * 1000;
  const cpu: Record<string, number> = {};
  const busy: Record<string, number> = {};
  for (const [n, pid] of Object.entries(t.pids)) {
    const used = processCpuUs(pid) - (before[n] ?? 0);
    cpu[n] = Math.round(used / Math.max(1, r.rps * (wallUs / 1e6)));
    busy[n] = Math.round((used / wallUs) * 100);
  }
  return { r, cpu, busy };
}

/** A sampled call per target (it must succeed): what each one answered, by name. */
async function sampleAll(targets: SuiteTarget[]): Promise<Map<string, string>> {
  const samples = new Map<string, string>();
  for (const t of targets) {
    if (t.grpc) {
      const s = await sampleGrpcStatus(t);
      if (s.httpStatus !== 200 || s.grpcStatus !== '0') throw new Error(`${t.name}: sampled call answered HTTP ${s.httpStatus}, grpc-status ${s.grpcStatus} ${s.grpcMessage ?? ''}`);
      samples.set(t.name, `grpc-status ${s.grpcStatus}`);
    } else {
      samples.set(t.name, 'HTTP 200 counted by h2load');
    }
  }
  return samples;
}

/** Runs the suite: a sampled call per target first (it must succeed), then the interleaved rounds. */
export async function runSuite(bin: string, targets: SuiteTarget[], shape: H2loadShape, rounds: number, log: (line: string) => void): Promise<SuiteRow[]> {
  const samples = await sampleAll(targets);
  const runsOf = new Map<string, Awaited<ReturnType<typeof measured>>[]>(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= rounds; round += 1) {
    for (const t of targets) {
      const m = await measured(bin, t, shape);
      runsOf.get(t.name)!.push(m);
      log(`h2load round ${round} ${t.name}: ${Math.round(m.r.rps)}/s, ${m.r.failed} failed, CPU µs/call ${JSON.stringify(m.cpu)}, busy % ${JSON.stringify(m.busy)}`);
    }
  }
  return targets.map((t) => {
    const ms = runsOf.get(t.name)!;
    const per = (key: 'cpu' | 'busy'): Record<string, number> => Object.fromEntries(Object.keys(t.pids).map((n) => [n, figure(ms.map((m) => m[key][n]!)).median]));
    return {
      name: t.name,
      description: t.description,
      generator: 'h2load',
      rps: figure(ms.map((m) => m.r.rps)),
      meanMs: figure(ms.map((m) => m.r.meanMs)),
      failed: ms.reduce((n, m) => n + m.r.failed, 0),
      sample: samples.get(t.name)!,
      cpuUsPerCall: per('cpu'),
      busyPct: per('busy'),
    };
  });
}

/** One target's open-loop runs at a fixed rate, each run's percentiles from h2load's per-call log. */
export interface OpenLoopSuiteRow {
  name: string;
  description: string;
  generator: 'h2load';
  /** Offered calls/s over all connections. */
  rate: number;
  /** How the calls left h2load (see H2loadShape.pacing). */
  pacing: 'bursts' | 'even';
  /** Seconds at the rate through each target before the rounds, not measured. */
  settleS: number;
  /** Per run, in the order run: percentiles (ms) over every call started in the measured window. */
  runs: LogLatency[];
  /** The largest p99 of the runs, ms. */
  worstP99: number;
  /** Calls not answered with HTTP 200 (or errored in h2load's count), over all runs. */
  failed: number;
  /** The sampled call's grpc-status. */
  sample: string;
}

/**
 * Open loop with h2load at `shape.rate`: a sampled call per target first (it must succeed), then
 * `rounds` interleaved rounds, each call of the measured window logged (--log-file).
 */
export async function runOpenLoopSuite(bin: string, targets: SuiteTarget[], shape: H2loadShape & { rate: number }, rounds: number, log: (line: string) => void, settleS = 0): Promise<OpenLoopSuiteRow[]> {
  const samples = await sampleAll(targets);
  // `settleS` at the rate through every target first, not measured: the rounds then see the
  // steady state at this rate rather than the collections left over from what ran before.
  if (settleS > 0) {
    for (const t of targets) await runH2load(bin, t, { ...shape, durationS: settleS, warmupS: 0 });
    log(`h2load open loop ${shape.rate}/s ${shape.pacing ?? 'bursts'}: ${settleS} s at the rate through each target before the rounds`);
  }
  const runsOf = new Map<string, { lat: LogLatency; failed: number }[]>(targets.map((t) => [t.name, []]));
  for (let round = 1; round <= rounds; round += 1) {
    for (const t of targets) {
      const r = await runH2load(bin, t, { ...shape, log: true });
      const lat = logLatency(r.calls ?? []);
      if (lat.calls === 0) throw new Error(`h2load open loop ${t.name}: no call logged`);
      const failed = Math.max(lat.failed, r.failed);
      runsOf.get(t.name)!.push({ lat, failed });
      log(`h2load open loop ${shape.rate}/s ${shape.pacing ?? 'bursts'} round ${round} ${t.name}: ${lat.calls} calls, p50 ${lat.p50} p99 ${lat.p99} p99.9 ${lat.p999} max ${lat.max} ms, ${failed} failed`);
    }
  }
  return targets.map((t) => {
    const rs = runsOf.get(t.name)!;
    return {
      name: t.name,
      description: t.description,
      generator: 'h2load',
      rate: shape.rate,
      pacing: shape.pacing ?? 'bursts',
      settleS,
      runs: rs.map((x) => x.lat),
      worstP99: Math.max(...rs.map((x) => x.lat.p99)),
      failed: rs.reduce((n, x) => n + x.failed, 0),
      sample: samples.get(t.name)!,
    };
  });
}
