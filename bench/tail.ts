import fs from 'node:fs';
import { closedLoopInWorker, openLoop, openLoopInWorker, RawUnaryClient, watchSender, type LoadResult, type OpenLoopOptions, type SenderStats, type WorkerRequests } from './load-generator.js';
import { frame } from '../lib/grpc/framing.js';
import { ACQUIRE_PATH, assertionSigner, BenchMesh } from './mesh.js';
import { machineTicks, processTicks } from './proc-stat.js';

/**
 * Where the open-loop tail comes from: starts the bench mesh, runs the open loop at each rate
 * against the gateway and directly against regional, and prints the percentiles plus every slow
 * call with the time it was due, grouped into bursts, beside the service output lines (e.g. GC
 * traces) that arrived around each burst, the sender's own GC pauses and event-loop delay, how
 * late calls left against their due time, and the CPU each process and the whole machine used
 * (a machine much busier than the mesh means other work shared the cores).
 *
 *   node dist/bench/tail.js [--rates 250,500,1000] [--targets gateway,regional] [--duration-ms 6000]
 *     [--prime-ms 3000] [--cold-ms 0] [--saturate-ms 0] [--slow-ms 5] [--workloads 1000] [--no-backup] [--node-flags "--trace-gc"] [--quiet]
 *     [--lines-out file] [--sender worker|main] [--sched] [--pacer thread|timer]
 *
 * `--sched` samples every process's threads from /proc/<pid>/task/<tid>/schedstat every 2 ms and
 * prints, beside each burst, how long each process ran and how long its threads waited for a core.
 *
 * The sender is a worker thread with its own small heap (as in the bench); `--sender main` sends
 * from this process's main thread instead, whose heap holds the mesh harness and every service line.
 *
 * 127.0.0.1 only; every run is bounded in time (the open loop's window) and in count (rate × time).
 */
interface Args {
  rates: number[];
  targets: string[];
  durationMs: number;
  warmupMs: number;
  primeMs: number;
  coldMs: number;
  saturateMs: number;
  slowMs: number;
  workloads: number;
  backup: boolean;
  nodeFlags: string;
  quiet: boolean;
  linesOut: string | undefined;
  sender: 'worker' | 'main';
  sched: boolean;
  pacer: 'timer' | 'thread';
}

function parse(argv: string[]): Args {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    rates: (arg('rates') ?? '250,500,1000').split(',').map(Number),
    targets: (arg('targets') ?? 'gateway,regional').split(','),
    durationMs: Math.min(10_000, Number(arg('duration-ms') ?? 6000)),
    warmupMs: Number(arg('warmup-ms') ?? 1500),
    primeMs: Math.min(10_000, Number(arg('prime-ms') ?? 3000)),
    coldMs: Math.min(30_000, Number(arg('cold-ms') ?? 0)),
    saturateMs: Math.min(30_000, Number(arg('saturate-ms') ?? 0)),
    slowMs: Number(arg('slow-ms') ?? 5),
    workloads: Number(arg('workloads') ?? 1000),
    backup: !argv.includes('--no-backup'),
    nodeFlags: arg('node-flags') ?? '',
    quiet: argv.includes('--quiet'),
    linesOut: arg('lines-out'),
    sender: arg('sender') === 'main' ? 'main' : 'worker',
    sched: argv.includes('--sched'),
    pacer: arg('pacer') === 'timer' ? 'timer' : 'thread',
  };
}

interface Line {
  at: number;
  proc: string;
  text: string;
}

const r1 = (v: number): string => v.toFixed(1);

/** On-CPU and run-queue wait time of all of a process's threads, ns (/proc/<pid>/task/<tid>/schedstat). */
function schedNs(pid: number): { run: number; wait: number } {
  let run = 0;
  let wait = 0;
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        const f = fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ');
        run += Number(f[0]);
        wait += Number(f[1]);
      } catch {
        // the thread ended between the listing and the read
      }
    }
  } catch {
    // the process is gone
  }
  return { run, wait };
}

/** Samples `schedNs` of each pid every 2 ms, bounded to 60 s of samples. */
function sampleSched(pids: [string, number][]): { stop: () => { at: number; run: number[]; wait: number[] }[] } {
  const samples: { at: number; run: number[]; wait: number[] }[] = [];
  const take = (): void => {
    if (samples.length >= 30_000) return;
    const at = performance.now();
    const s = pids.map(([, pid]) => schedNs(pid));
    samples.push({ at, run: s.map((x) => x.run), wait: s.map((x) => x.wait) });
  };
  const timer = setInterval(take, 2);
  take();
  return {
    stop: () => {
      clearInterval(timer);
      return samples;
    },
  };
}

async function main(): Promise<void> {
  const a = parse(process.argv.slice(2));
  const bm = new BenchMesh({ workloads: a.workloads, backup: a.backup, gatewayChannels: 2, log: (l) => console.log(`tail: ${l}`) });
  if (a.nodeFlags !== '') bm.mesh.env = { AUTHMESH_NODE_FLAGS: a.nodeFlags };
  const lines: Line[] = [];
  try {
    await bm.start();
    // Time-stamp every line the services print from now on (GC traces, logs).
    for (const [name, proc] of bm.mesh.procs) {
      const onData = (chunk: Buffer): void => {
        const at = performance.now();
        for (const text of chunk.toString('utf8').split('\n')) if (text.length > 0 && lines.length < 200_000) lines.push({ at, proc: name, text });
      };
      proc.child.stdout!.on('data', onData);
      proc.child.stderr!.on('data', onData);
    }
    const target = { gateway: 'gateway-eastus', regional: 'regional-eastus' } as Record<string, string>;
    for (const t of a.targets) {
      const address = bm.mesh.address(target[t] ?? t);
      const requests = bm.warmRequests;
      /** A closed loop before the open loop, and what it made. */
      const preload = async (what: string, reqs: WorkerRequests, concurrency: number, durationMs: number): Promise<void> => {
        if (durationMs <= 0) return;
        const c = await closedLoopInWorker({ address, path: ACQUIRE_PATH }, reqs, { concurrency, durationMs });
        console.log(`tail: ${t} ${what} with ${c.ok} calls (${Math.round(c.throughput)}/s closed loop at ${concurrency} callers, ${c.failed} failed)`);
      };
      // Warm the code paths first (as the full bench's closed-loop scenarios do before its open loop).
      await preload('primed', requests, 16, a.primeMs);
      // As the full bench's cold-path scenario leaves the mesh: a fresh assertion on every call.
      await preload('sent fresh assertions', { fresh: bm.workloads.map(assertionSigner) }, 64, a.coldMs);
      // As the full bench's throughput-against-load leaves the mesh: saturated at 128 callers.
      await preload('saturated', requests, 128, a.saturateMs);
      for (const rate of a.rates) {
        const slow: { at: number; ms: number; late: number }[] = [];
        let windowStart = 0;
        const from = lines.length;
        const pids: [string, number][] = [['load', process.pid], ...[...bm.mesh.procs].map(([n, p]): [string, number] => [n, p.pid])];
        let m0 = machineTicks();
        let p0 = pids.map(([, pid]) => processTicks(pid));
        // This thread's own GC pauses and event-loop delay: the sender's when it sends from here.
        const mainWatch = watchSender(a.sender === 'main');
        const sched = a.sched ? sampleSched(pids) : undefined;
        const opts: OpenLoopOptions = {
          rate, durationMs: a.durationMs, warmupMs: a.warmupMs, pacer: a.pacer,
          onStart: (at) => {
            windowStart = at;
            mainWatch.window(at);
            m0 = machineTicks();
            p0 = pids.map(([, pid]) => processTicks(pid));
          },
          onSample: (at, ms, _ok, late) => {
            if (ms >= a.slowMs && slow.length < 100_000) slow.push({ at, ms, late });
          },
        };
        let res: LoadResult;
        let sender: SenderStats | undefined;
        if (a.sender === 'worker') {
          const r = await openLoopInWorker({ address, path: ACQUIRE_PATH }, requests, opts);
          res = r;
          sender = r.sender;
        } else {
          const client = new RawUnaryClient(address, ACQUIRE_PATH, 2);
          await client.ready();
          const errors: string[] = [];
          const framed = requests.map((r) => frame(r));
          res = await openLoop((i) => client.send(framed[i % framed.length]!, errors), opts, errors);
          client.close();
        }
        const main = mainWatch.stop();
        const schedSamples = sched?.stop() ?? [];
        /** ms each process ran and waited for a core between two times (ms since the window started). */
        const schedBetween = (from: number, to: number): string => {
          const pick = (t: number): (typeof schedSamples)[number] | undefined => schedSamples.find((x) => x.at - windowStart >= t);
          const s0 = pick(from);
          const s1 = pick(to) ?? schedSamples[schedSamples.length - 1];
          if (s0 === undefined || s1 === undefined || s1 === s0) return '';
          return pids.map(([n], k) => `${n} ${r1((s1.run[k]! - s0.run[k]!) / 1e6)}/${r1((s1.wait[k]! - s0.wait[k]!) / 1e6)}`).join(', ');
        };
        sender ??= main;
        const m1 = machineTicks();
        const cores = (ticks: number): string => `${Math.round((100 * ticks) / (m1.total - m0.total))}%`;
        // Clock ticks are 10 ms; per successful call they give each process's CPU time per token.
        const ours = pids
          .map(([name, pid], k) => {
            const ticks = processTicks(pid) - p0[k]!;
            return `${name} ${cores(ticks)} (${Math.round((ticks * 10_000) / Math.max(1, res.ok))} µs/token)`;
          })
          .join(', ');
        const gcSum = (g: SenderStats['gc']): string => `${g.length} pauses, ${r1(g.reduce((x, y) => x + y.ms, 0))} ms in all, longest ${r1(Math.max(0, ...g.map((y) => y.ms)))} ms`;
        const l = res.latency;
        const late = res.sendLateness!;
        console.log(`\n== ${t} ${rate}/s: ok ${res.ok} failed ${res.failed} p50 ${l.p50} p90 ${l.p90} p99 ${l.p99} p99.9 ${l.p999} max ${l.max} ms${res.errors.length ? `; errors ${res.errors.slice(0, 2).join('; ')}` : ''}`);
        console.log(`sender (${a.sender === 'worker' ? 'worker thread' : 'main thread'}): calls left after their due time by p50 ${late.p50} p99 ${late.p99} p99.9 ${late.p999} max ${late.max} ms; `
          + `${sender.loopDelay === undefined ? '' : `loop delay p99 ${sender.loopDelay.p99} max ${sender.loopDelay.max} ms; `}GC ${gcSum(sender.gc)}; heap ${sender.heapUsedMiB} MiB`);
        if (a.sender === 'worker') console.log(`main thread (not sending): GC ${gcSum(main.gc)}; heap ${main.heapUsedMiB} MiB`);
        console.log(`CPU of both cores: machine ${cores(m1.busy - m0.busy)}; ${ours}`);
        if (a.quiet) continue;
        // Bursts: slow calls due within 20 ms of each other.
        slow.sort((x, y) => x.at - y.at);
        const bursts: { from: number; to: number; n: number; max: number; late: number }[] = [];
        for (const s of slow) {
          const b = bursts[bursts.length - 1];
          if (b !== undefined && s.at - b.to <= 20) {
            b.to = s.at;
            b.n += 1;
            b.max = Math.max(b.max, s.ms);
            b.late = Math.max(b.late, s.late);
          } else bursts.push({ from: s.at, to: s.at, n: 1, max: s.ms, late: s.late });
        }
        const windowLines = lines.slice(from).map((x) => ({ ...x, at: x.at - windowStart })).filter((x) => x.at >= -50 && x.at <= a.durationMs + 200);
        console.log(`${slow.length} calls ≥ ${a.slowMs} ms in ${bursts.length} bursts; ${windowLines.length} service lines in the window`);
        for (const b of bursts.slice(0, 60)) {
          const near = windowLines.filter((x) => x.at >= b.from - 30 && x.at <= b.to + b.max + 30);
          const ownGc = sender.gc.filter((g) => g.at >= b.from - 30 && g.at <= b.to + 30);
          for (const g of ownGc) near.push({ at: g.at, proc: 'sender', text: `GC kind ${g.kind} ${r1(g.ms)} ms` });
          near.sort((x, y) => x.at - y.at);
          console.log(`  at ${r1(b.from)}..${r1(b.to)} ms: ${b.n} slow, max ${r1(b.max)} ms${b.late >= 1 ? `; left up to ${r1(b.late)} ms late` : ''}`);
          if (a.sched) console.log(`      ran/waited ms from 20 ms before to the last slow call's end: ${schedBetween(b.from - 20, b.to + b.max)}`);
          for (const x of near.slice(0, 8)) console.log(`      ${r1(x.at)} ${x.proc}: ${x.text.slice(0, 160)}`);
        }
      }
    }
    // Each kind of warning or error the services logged, once, in full.
    const seen = new Set<string>();
    for (const x of lines) {
      const m = /"level":(\d+).*"msg":"([^"]*)"/.exec(x.text);
      if (m === null || Number(m[1]) < 40 || seen.has(`${x.proc} ${m[2]}`)) continue;
      seen.add(`${x.proc} ${m[2]}`);
      console.log(`${x.proc}: ${x.text.slice(0, 600)}`);
    }
    if (a.linesOut !== undefined) fs.writeFileSync(a.linesOut, lines.map((x) => `${r1(x.at)} ${x.proc}: ${x.text}\n`).join(''));
    const gc = lines.filter((x) => /Mark-Compact|Scavenge|Mark-sweep|Minor/.test(x.text));
    if (gc.length > 0) console.log(`\n${gc.length} GC trace lines in all`);
  } finally {
    await bm.stop().catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
