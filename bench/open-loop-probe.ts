/**
 * The h2load open loop alone, and what makes its tail:
 *   node dist/bench/open-loop-probe.js [--rate 1000] [--rounds 3] [--seconds 8] [--warmup 2] [--slow-ms 5]
 *        [--pacing bursts|even] [--connections 2] [--workloads 200] [--no-backup] [--watch gateway-eastus,regional-eastus] [--node-flags "--trace-gc"]
 * Starts the bench mesh (global, regional, backup, gateway) and a grpc-js echo server, then runs
 * `rounds` interleaved rounds of h2load at `rate` calls/s (`--pacing even`: about one call every 1 / rate s, as
 * `make bench` judges; `bursts`, the default: `--connections`, 2 by default, 64 streams in all)
 * against the echo server and the gateway (reused assertion), printing each run's percentiles.
 * Every gateway call slower than `--slow-ms` is printed, grouped into bursts, beside what the
 * watched processes reported within 20 ms of it: their garbage collections and event-loop stalls
 * (bench/loop-watch.js, preloaded) and any other output line (e.g. --trace-gc).
 * 127.0.0.1 only; bounded in time (rounds × seconds).
 */
import os from 'node:os';
import path from 'node:path';
import { spawnService, DIST } from '../test/support/spawn-service.js';
import { ECHO_PATH } from './anchors/echo-server.js';
import { GRPC_HEADERS, grpcFrame, requireH2load, runH2load, sampleGrpcStatus } from './h2load.js';
import { logLatency, type H2loadLogEntry } from './h2load-log.js';
import type { SuiteTarget } from './h2load-suite.js';
import { ACQUIRE_PATH, BenchMesh } from './mesh.js';
import { argReader, machineTicks, processTicks } from './proc-stat.js';

interface Line {
  at: number;
  proc: string;
  text: string;
}

async function main(argv: string[]): Promise<void> {
  const arg = argReader(argv);
  const bin = requireH2load();
  const rate = Number(arg('rate', '1000'));
  const rounds = Math.min(10, Number(arg('rounds', '3')));
  const seconds = Math.min(30, Number(arg('seconds', '8')));
  const warmup = Number(arg('warmup', '2'));
  const slowMs = Number(arg('slow-ms', '5'));
  const pacing = arg('pacing', 'bursts');
  if (pacing !== 'bursts' && pacing !== 'even') throw new Error(`--pacing: bursts or even, not ${pacing}`);
  const watch = arg('watch', 'gateway-eastus,regional-eastus').split(',').filter((w) => w !== '');
  const flags = `--require ${path.join(DIST, 'bench', 'loop-watch.js')} ${arg('node-flags', '')}`.trim();
  const bm = new BenchMesh({ workloads: Number(arg('workloads', '200')), backup: !argv.includes('--no-backup'), gatewayChannels: 2, log: (l) => console.log(`probe: ${l}`) });
  const lines: Line[] = [];
  // Only the watched processes get the preload; the harness passes one env to every process it starts.
  const start = bm.mesh.start.bind(bm.mesh);
  bm.mesh.start = async (name, entry, args, env = {}) => {
    const proc = await start(name, entry, args, watch.includes(name) ? { ...env, AUTHMESH_NODE_FLAGS: flags } : env);
    const collect = (chunk: Buffer): void => {
      const at = Date.now();
      for (const text of chunk.toString('utf8').split('\n')) if (text.length > 0 && lines.length < 200_000) lines.push({ at, proc: name, text });
    };
    proc.child.stdout!.on('data', collect);
    proc.child.stderr!.on('data', collect);
    return proc;
  };
  const echo = spawnService('echo', 'bench/anchors/echo-server.js', ['--mode', 'echo']);
  try {
    await bm.start();
    const echoAddr = await listeningOn(echo.output, () => echo.child.exitCode !== null);
    const gw = bm.mesh.procs.get('gateway-eastus')!.pid;
    const targets: SuiteTarget[] = [
      { name: 'echo', description: 'grpc-js echo, one hop', url: `http://${echoAddr}${ECHO_PATH}`, body: grpcFrame(Buffer.alloc(600, 1)), headers: GRPC_HEADERS, grpc: true, pids: { echo: echo.pid } },
      { name: 'gateway', description: 'gateway → regional', url: `http://${bm.mesh.address('gateway-eastus')}${ACQUIRE_PATH}`, body: grpcFrame(bm.warmRequests[0]!), headers: GRPC_HEADERS, grpc: true, pids: { gateway: gw } },
    ];
    for (const t of targets) {
      const s = await sampleGrpcStatus(t);
      if (s.grpcStatus !== '0') throw new Error(`${t.name}: sampled call grpc-status ${s.grpcStatus} ${s.grpcMessage ?? ''}`);
    }
    const pids = [...[...bm.mesh.procs.values()].map((p) => p.pid), echo.pid];
    const meshTicks = (): number => pids.reduce((n, pid) => n + processTicks(pid), 0);
    for (let round = 1; round <= rounds; round += 1) {
      for (const t of targets) {
        const from = lines.length;
        const before = machineTicks();
        const mesh0 = meshTicks();
        const r = await runH2load(bin, t, { inFlight: 64, connections: Number(arg('connections', '2')), durationS: seconds, warmupS: warmup, rate, pacing, log: true });
        const calls = r.calls ?? [];
        const l = logLatency(calls);
        const after = machineTicks();
        const total = after.total - before.total;
        const meshPct = Math.round(((meshTicks() - mesh0) / total) * 100);
        const busyPct = Math.round(((after.busy - before.busy) / total) * 100);
        console.log(`round ${round} ${t.name}: ${l.calls} calls, ${l.failed} failed, p50 ${l.p50} p99 ${l.p99} p99.9 ${l.p999} max ${l.max} ms; machine busy ${busyPct} % of its cores, mesh + echo ${meshPct} % (h2load and other work the rest); load average ${os.loadavg()[0]!.toFixed(2)}`);
        printSlow(calls, lines.slice(from), slowMs);
      }
    }
  } finally {
    echo.kill('SIGKILL');
    await bm.stop();
  }
}

async function listeningOn(output: string[], gone: () => boolean): Promise<string> {
  const until = Date.now() + 20_000;
  for (;;) {
    const m = output.map((l) => /"listening":"(127\.0\.0\.1:\d+)"/.exec(l)).find((x) => x !== null);
    if (m) return m[1]!;
    if (gone() || Date.now() > until) throw new Error(`echo did not start:\n${output.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Slow calls grouped into bursts (ends within 20 ms of each other), with the lines that arrived around each. */
function printSlow(calls: H2loadLogEntry[], lines: Line[], slowMs: number): void {
  const slow = calls.filter((c) => c.durationUs > slowMs * 1000).sort((a, b) => a.startUs - b.startUs);
  const t0 = Math.min(...calls.map((c) => c.startUs));
  const bursts: H2loadLogEntry[][] = [];
  for (const c of slow) {
    const b = bursts[bursts.length - 1];
    const prev = b?.[b.length - 1];
    if (b !== undefined && prev !== undefined && c.startUs - (prev.startUs + prev.durationUs) < 20_000) b.push(c);
    else bursts.push([c]);
  }
  const noted = (l: Line): string => {
    try {
      const j = JSON.parse(l.text) as { loopWatch?: string; kind?: string; ms?: number; at?: number };
      if (j.loopWatch !== undefined) return `${j.loopWatch}${j.kind === undefined ? '' : ` ${j.kind}`} ${j.ms} ms ending at +${((j.at! * 1000 - t0) / 1000).toFixed(1)}`;
    } catch {
      // not JSON: a trace line
    }
    return l.text.slice(0, 160);
  };
  const gcs = lines.filter((l) => l.text.includes('"loopWatch":"gc"'));
  const stalls = lines.filter((l) => l.text.includes('"loopWatch":"stall"'));
  console.log(`  ${slow.length} calls over ${slowMs} ms in ${bursts.length} bursts; in the window: ${gcs.length} GCs ≥ 1 ms, ${stalls.length} loop stalls ≥ 2 ms (gateway ${stalls.filter((l) => l.proc === 'gateway-eastus').length}, regional ${stalls.filter((l) => l.proc === 'regional-eastus').length})`);
  for (const b of bursts.slice(0, 30)) {
    const from = b[0]!.startUs;
    const to = Math.max(...b.map((c) => c.startUs + c.durationUs));
    console.log(`  +${((from - t0) / 1000).toFixed(1)} ms: ${b.length} calls, ${(Math.max(...b.map((c) => c.durationUs)) / 1000).toFixed(1)} ms at most`);
    for (const l of lines.filter((x) => x.at * 1000 >= from - 20_000 && x.at * 1000 <= to + 20_000)) console.log(`      ${l.proc}: ${noted(l)}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
