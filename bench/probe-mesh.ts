import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TestMesh } from '../test/support/mesh-harness.js';
import { printProfileSummary } from './cpu-profile-summary.js';
import { startProbeDomains } from './mesh.js';
import { argReader } from './proc-stat.js';

/**
 * The token path of the probes: global, regional-eastus and gateway-eastus started on `mesh`, the
 * admin token read. `env` gives a process extra environment by name (e.g. AUTHMESH_NODE_FLAGS for
 * --cpu-prof); `gatewayArgs` are added to the gateway's flags.
 */
export async function startTokenPath(mesh: TestMesh, env: (name: string) => Record<string, string>, gatewayArgs: string[] = []): Promise<void> {
  await startProbeDomains(mesh, env('regional-eastus'), env('global'));
  await mesh.start('gateway-eastus', 'gateway/main.js', (port) => [
    '--region', 'eastus', '--listen', `127.0.0.1:${port}`, '--regional', mesh.address('regional-eastus'), '--global', mesh.address('global'), ...gatewayArgs,
  ], env('gateway-eastus'));
}

/** A probe's flags: `arg('name', default)` reads `--name value`. */
export type ProbeArg = ReturnType<typeof argReader>;

/** Starts a probe's processes on `mesh`, each with the environment `env` gives it by name. */
export type ProbeStart = (mesh: TestMesh, arg: ProbeArg, env: (name: string) => Record<string, string>) => Promise<void>;

/** The token path (see startTokenPath) with `gatewayArgs` added to the gateway's flags. */
export const tokenPath = (gatewayArgs: (arg: ProbeArg) => string[]): ProbeStart => (mesh, arg, env) => startTokenPath(mesh, env, gatewayArgs(arg));

/**
 * Runs a probe: its processes started by `start` (`--prof <process>` runs that process with
 * --cpu-prof), `body` given the mesh, then the mesh stopped and the profiled process's hottest
 * functions (`--top`, default 40) printed.
 */
export async function runProbe(argv: string[], start: ProbeStart, body: (mesh: TestMesh, arg: ProbeArg) => Promise<void>): Promise<void> {
  const arg = argReader(argv);
  const prof = arg('prof', '');
  const profDir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-prof-'));
  const mesh = new TestMesh();
  try {
    await start(mesh, arg, (name): Record<string, string> => (prof === name ? { AUTHMESH_NODE_FLAGS: `--cpu-prof --cpu-prof-dir=${profDir}` } : {}));
    await body(mesh, arg);
    if (prof !== '') await mesh.procs.get(prof)?.stop(10_000);
  } finally {
    await mesh.stop();
  }
  if (prof !== '') printProfileSummary(profDir, Number(arg('top', '40')));
}
