/**
 * Where a cold gateway → regional call (a fresh client assertion on every call) spends its time:
 *   node dist/bench/cold-probe.js [--concurrency 64] [--seconds 6] [--rounds 1] [--workloads 4]
 *        [--mesh probe|bench] [--prof regional-eastus|gateway-eastus] [--top 40]
 * Starts global, regional and gateway (`--mesh bench`: the mesh as `make bench` runs it, with
 * backup, the gateway's HTTPS front and the bench's flags), registers workloads, then per round runs the lean client in
 * a worker thread (as `make bench` "cold path" does) and prints tokens/s and, for regional, the
 * gateway (each whole and its main thread) and this process (the sending worker), CPU µs per token and busy % of a core in the
 * measured window (/proc/<pid>/stat, process.cpuUsage). With --prof, that process runs with
 * --cpu-prof and its hottest functions are printed. 127.0.0.1 only; bounded in time.
 */
import os from 'node:os';
import { processCpuUs } from './h2load-suite.js';
import { freePort } from '../test/support/free-port.js';
import type { TestWorkload } from '../test/support/mesh-harness.js';
import { closedLoopInWorker } from './load-generator.js';
import { machineTicks } from './proc-stat.js';
import { ACQUIRE_PATH, assertionSigner, authenticateEach, BenchMesh } from './mesh.js';
import { runProbe, startTokenPath, type ProbeStart } from './probe-mesh.js';

async function main(argv: string[]): Promise<void> {
  let workloads: TestWorkload[] = [];
  const start: ProbeStart = async (mesh, arg, env) => {
    const count = Number(arg('workloads', '4'));
    const shape = arg('mesh', 'probe');
    if (shape === 'bench') {
      const bm = new BenchMesh({ workloads: count, backup: true, gatewayChannels: Number(arg('channels', '2')), log: (l) => console.log(`probe: ${l}`), httpListen: `127.0.0.1:${await freePort()}`, mesh, env });
      await bm.start();
      workloads = bm.workloads;
      return;
    }
    if (shape !== 'probe') throw new Error(`--mesh: probe or bench, not ${shape}`);
    await startTokenPath(mesh, env, ['--channels', arg('channels', '2')]);
    for (let i = 0; i < count; i++) workloads.push(await mesh.addWorkload(`cold-${i}`));
    // As the bench's mesh does: every workload in regional's cache before the first round, which
    // a short warm-up through the gateway does not reach with a thousand of them.
    await authenticateEach(mesh, workloads);
  };
  await runProbe(argv, start, async (mesh, arg) => {
    const concurrency = Number(arg('concurrency', '64'));
    const seconds = Number(arg('seconds', '6'));
    const rounds = Number(arg('rounds', '1'));
    const signers = { fresh: workloads.map(assertionSigner) };
    const target = { address: mesh.address('gateway-eastus'), path: ACQUIRE_PATH, channels: 2 };
    // Warm: every workload cached in regional and the gateway's routes primed.
    const warm = await closedLoopInWorker(target, signers, { concurrency: 8, durationMs: 1500 });
    if (warm.ok === 0) throw new Error(`warm-up: no call succeeded: ${warm.errors.join('; ')}`);
    const pids = { regional: mesh.procs.get('regional-eastus')!.pid, gateway: mesh.procs.get('gateway-eastus')!.pid };
    // A process's main thread (its task id is the pid) beside the whole process: what a process
    // spends on other threads (libuv's pool: WebCrypto, zlib) shows as the difference.
    const threadCpuUs = (pid: number): number => processCpuUs(pid, `/proc/${pid}/task/${pid}/stat`);
    // The mesh's other processes (global, and backup in the bench's mesh) whole.
    const others = [...mesh.procs.entries()].filter(([n]) => n !== 'regional-eastus' && n !== 'gateway-eastus').map(([n, p]) => [n, p.pid] as const);
    const cpuOf = (): Record<string, number> => ({
      ...Object.fromEntries(Object.entries(pids).map(([n, pid]) => [n, processCpuUs(pid)])),
      ...Object.fromEntries(Object.entries(pids).map(([n, pid]) => [`${n} main thread`, threadCpuUs(pid)])),
      ...Object.fromEntries(others.map(([n, pid]) => [n, processCpuUs(pid)])),
    });
    for (let r = 0; r < rounds; r++) {
      const warmupMs = 1000;
      let before: Record<string, number> = {};
      let self0 = 0;
      let t0 = 0;
      let machine0 = machineTicks();
      const timer = setTimeout(() => {
        t0 = performance.now();
        machine0 = machineTicks();
        before = cpuOf();
        const u = process.cpuUsage();
        self0 = u.user + u.system;
      }, warmupMs);
      const res = await closedLoopInWorker(target, signers, { concurrency, durationMs: seconds * 1000, warmupMs });
      clearTimeout(timer);
      const wallUs = (performance.now() - t0) * 1000;
      const u = process.cpuUsage();
      const after = cpuOf();
      const machine1 = machineTicks();
      // The whole machine's busy share, every process on it counted (other work on these cores too).
      const machineBusy = Math.round((100 * (machine1.busy - machine0.busy)) / Math.max(1, machine1.total - machine0.total));
      const used: Record<string, number> = Object.fromEntries(Object.entries(after).map(([n, us]) => [n, us - before[n]!]));
      // The sending worker's CPU (process.cpuUsage covers every thread of this process); the main
      // thread only waits, and the probe's own timers are small beside it.
      used['client'] = u.user + u.system - self0;
      const tokens = res.ok;
      const per = Object.fromEntries(Object.entries(used).map(([n, us]) => [n, Math.round(us / Math.max(1, res.throughput * (wallUs / 1e6)))]));
      const busy = Object.fromEntries(Object.entries(used).map(([n, us]) => [n, Math.round((100 * us) / wallUs)]));
      console.log(`round ${r + 1}: ${Math.round(res.throughput)} tokens/s (${tokens} ok, ${res.failed} failed), p50 ${res.latency.p50} ms p99 ${res.latency.p99} ms; CPU µs/token ${JSON.stringify(per)}; busy % ${JSON.stringify(busy)}; machine ${machineBusy} % busy of ${os.cpus().length} cores; load avg ${os.loadavg()[0]!.toFixed(2)}${res.errors.length > 0 ? `; errors ${res.errors.slice(0, 3).join(' | ')}` : ''}`);
    }
  });
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
