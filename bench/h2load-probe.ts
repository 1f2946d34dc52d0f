/**
 * Where a saturated gateway → regional call spends its time, measured with h2load:
 *   node dist/bench/h2load-probe.js [--in-flight 64,256] [--rate 1000,2000] [--seconds 8] [--transport relay|grpc-js]
 *        [--channels 2] [--prof gateway-eastus|regional-eastus] [--target gateway-eastus|regional-eastus]
 * Starts global, regional and gateway, registers one workload, then per in-flight level runs
 * h2load (2 connections) with the workload's reused assertion and prints calls/s, and for each
 * process the CPU per call and its share of a core in the measured window (/proc/<pid>/stat).
 * With --prof, that process runs with --cpu-prof and its hottest functions are printed.
 * 127.0.0.1 only; bounded in time.
 */
import { GRPC_HEADERS, grpcFrame, h2loadPath, H2LOAD_HINT, sampleGrpcStatus } from './h2load.js';
import { runSuite, type SuiteTarget } from './h2load-suite.js';
import { ACQUIRE_PATH, requestBytes } from './mesh.js';
import { runProbe, tokenPath } from './probe-mesh.js';

async function main(argv: string[]): Promise<void> {
  const bin = h2loadPath();
  if (bin === undefined) throw new Error(H2LOAD_HINT);
  await runProbe(argv, tokenPath((arg) => ['--channels', arg('channels', '2'), '--transport', arg('transport', 'relay')]), async (mesh, arg) => {
    const levels = arg('in-flight', '64').split(',').filter((l) => l !== '').map(Number);
    const seconds = Number(arg('seconds', '8'));
    const w = await mesh.addWorkload('probe');
    const target: SuiteTarget = {
      name: 'gateway', description: 'gateway → regional', url: `http://${mesh.address(arg('target', 'gateway-eastus'))}${ACQUIRE_PATH}`,
      body: grpcFrame(requestBytes(w, w.assertion)), headers: GRPC_HEADERS, grpc: true,
      pids: { gateway: mesh.procs.get('gateway-eastus')!.pid, regional: mesh.procs.get('regional-eastus')!.pid },
    };
    const first = await sampleGrpcStatus(target);
    if (first.grpcStatus !== '0') throw new Error(`sampled call: grpc-status ${first.grpcStatus} ${first.grpcMessage ?? ''}`);
    // A fixed offered rate (64 in flight at most) keeps the work per turn of the event loop the
    // same however busy the machine is, so CPU per call compares across runs; saturation does not.
    const rates = arg('rate', '').split(',').filter((r) => r !== '').map(Number);
    const runs = [...levels.map((inFlight) => ({ inFlight, rate: undefined as number | undefined })), ...rates.map((rate) => ({ inFlight: 64, rate }))];
    for (const { inFlight, rate } of runs) {
      const [row] = await runSuite(bin, [target], { inFlight, connections: 2, durationS: seconds, warmupS: 2, ...(rate === undefined ? {} : { rate }) }, 1, () => undefined);
      console.log(`${rate === undefined ? `${inFlight} in flight` : `offered ${rate}/s`}: ${Math.round(row!.rps.median)} calls/s, mean ${row!.meanMs.median} ms, not 2xx ${row!.failed}; CPU µs/call ${JSON.stringify(row!.cpuUsPerCall)}; busy % ${JSON.stringify(row!.busyPct)}`);
    }
  });
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
