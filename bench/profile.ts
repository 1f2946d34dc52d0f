import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { printProfileSummary } from './cpu-profile-summary.js';
import { closedLoopInWorker } from './load-generator.js';
import { ACQUIRE_PATH, requestBytes } from './mesh.js';
import { startTokenPath } from './probe-mesh.js';
import { TestMesh } from '../test/support/mesh-harness.js';

/**
 * CPU profile of one mesh process under closed-loop load through the gateway:
 *   node dist/bench/profile.js [gateway-eastus|regional-eastus] [seconds] [concurrency]
 * Writes a .cpuprofile (open it in Chrome DevTools) and prints the functions with the most self
 * time. 127.0.0.1 only; bounded in time.
 */
async function main(): Promise<void> {
  const target = process.argv[2] ?? 'gateway-eastus';
  const seconds = Number(process.argv[3] ?? '8');
  const concurrency = Number(process.argv[4] ?? '32');
  const profDir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-prof-'));
  const mesh = new TestMesh();
  const prof = { AUTHMESH_NODE_FLAGS: `--cpu-prof --cpu-prof-dir=${profDir}` };
  try {
    await startTokenPath(mesh, (name) => (name === target ? prof : {}));
    await mesh.seedTenant();
    const workloads = await Promise.all(Array.from({ length: 50 }, (_, i) => mesh.addWorkload(`p${i}`)));
    const requests = workloads.map((w) => requestBytes(w, w.assertion));
    const result = await closedLoopInWorker({ address: mesh.address('gateway-eastus'), path: ACQUIRE_PATH }, requests, { concurrency, durationMs: seconds * 1000, warmupMs: 1000 });
    console.log(`through the gateway: ${Math.round(result.throughput)} tokens/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, failed ${result.failed} ${result.errors.join('; ')}`);
    await mesh.procs.get(target)?.stop(10_000);
  } finally {
    await mesh.stop();
  }
  printProfileSummary(profDir, 30);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
