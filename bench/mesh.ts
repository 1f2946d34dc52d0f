import fs from 'node:fs';
import path from 'node:path';
import { status, type Metadata } from '@grpc/grpc-js';
import { acquire, RESOURCE, TestMesh, type TestWorkload } from '../test/support/mesh-harness.js';
import { meshBackupFiles, startBackupProcess } from '../test/support/backup-process.js';
import { bearer, writeMemberTokenFile } from '../lib/grpc/index.js';
import { DEFAULT_ISSUER, assertionAudience } from '../lib/token/index.js';
import { LatencyHistogram } from './histogram.js';
import { encodeAcquire, type AssertionSigner } from './requests.js';

const ACQUIRE_PATH = '/authmesh.token.v1.TokenService/AcquireToken';
export { ACQUIRE_PATH };

/** The request bytes of one AcquireToken call with a given assertion. */
export function requestBytes(w: Pick<TestWorkload, 'tenantId' | 'clientId'>, assertion: string): Buffer {
  return encodeAcquire({ tenantId: w.tenantId, clientId: w.clientId, scope: `${RESOURCE}/.default` }, assertion);
}

/**
 * Starts global and regional eastus as the probes run them (no backup, default flags), regional
 * with `regionalEnv` (say, `--cpu-prof`) and global with `globalEnv`, and reads the admin token.
 */
export async function startProbeDomains(mesh: TestMesh, regionalEnv: Record<string, string> = {}, globalEnv: Record<string, string> = {}): Promise<void> {
  await mesh.start('global', 'services/global/main.js', (port) => ['--listen', `127.0.0.1:${port}`, '--data-dir', path.join(mesh.dir, 'global')], globalEnv);
  mesh.adminToken = fs.readFileSync(path.join(mesh.dir, 'global', 'admin-token'), 'utf8').trim();
  await mesh.start('regional-eastus', 'services/regional/main.js', (port) => [
    '--region', 'eastus', '--listen', `127.0.0.1:${port}`, '--global', mesh.address('global'),
    '--mesh-token-file', writeMemberTokenFile(path.join(mesh.dir, 'global'), 'regional-eastus'), '--data-dir', path.join(mesh.dir, 'regional-eastus'),
  ], regionalEnv);
}

/** What signs fresh assertions for a workload (its header, audience and key). */
export function assertionSigner(w: TestWorkload): AssertionSigner {
  return {
    tenantId: w.tenantId,
    clientId: w.clientId,
    scope: `${RESOURCE}/.default`,
    header: w.assertion.slice(0, w.assertion.indexOf('.')),
    aud: assertionAudience(DEFAULT_ISSUER, w.tenantId),
    key: w.privateKey,
  };
}

/**
 * Each workload authenticates once directly at regional eastus, 50 at a time, so regional holds
 * every one in its cache before a measurement (a miss asks global).
 */
export async function authenticateEach(mesh: TestMesh, workloads: TestWorkload[]): Promise<void> {
  const regional = mesh.tokenClient('regional-eastus');
  for (let i = 0; i < workloads.length; i += 50) {
    const batch = await Promise.all(workloads.slice(i, i + 50).map((w) => acquire(regional, w)));
    const bad = batch.find((b) => b.error !== undefined);
    if (bad) throw new Error(`warm-up call failed: ${bad.error?.code} ${bad.error?.details}`);
  }
}

export interface BenchMeshOptions {
  workloads: number;
  backup: boolean;
  gatewayChannels: number;
  log: (line: string) => void;
  /** 127.0.0.1:port for the gateway's HTTPS front (development certificate); none when absent. */
  httpListen?: string;
  /** The mesh to start on (a probe's, to profile a process); a new one when absent. */
  mesh?: TestMesh;
  /** Extra environment of a process by name (AUTHMESH_NODE_FLAGS for --cpu-prof, say). */
  env?: (name: string) => Record<string, string>;
}

/**
 * The mesh as real processes (global, regional eastus, backup when asked, gateway eastus) with
 * `workloads` registered workloads, each holding one assertion it reuses as SDKs do.
 */
export class BenchMesh {
  readonly mesh: TestMesh;
  workloads: TestWorkload[] = [];
  /** Pre-encoded request of each workload with its reused assertion. */
  warmRequests: Buffer[] = [];

  constructor(private readonly opts: BenchMeshOptions) {
    this.mesh = opts.mesh ?? new TestMesh();
  }

  async start(): Promise<void> {
    const { mesh, opts } = this;
    const env = (name: string): Record<string, string> => opts.env?.(name) ?? {};
    await mesh.startGlobal(['--log-level', 'info', '--backup-interval', '0'], env('global'));
    await mesh.startRegional('eastus', ['--usage-interval', '1s'], env('regional-eastus'));
    const started = Date.now();
    await mesh.seedTenant();
    const queue = Array.from({ length: opts.workloads }, (_, i) => i);
    const out: TestWorkload[] = new Array<TestWorkload>(opts.workloads);
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = queue.shift(); i !== undefined; i = queue.shift()) out[i] = await mesh.addWorkload(`bench-${i}`);
      }),
    );
    this.workloads = out;
    this.warmRequests = out.map((w) => requestBytes(w, w.assertion));
    opts.log(`registered ${opts.workloads} workloads in ${Date.now() - started} ms`);
    // Every workload authenticates once through regional, so it is cached there and counts as
    // recently used for the backup snapshot.
    await authenticateEach(mesh, out);
    const gatewayArgs = ['--channels', String(opts.gatewayChannels), '--log-level', 'info'];
    if (opts.backup) {
      await new Promise((r) => setTimeout(r, 1500)); // one usage report from regional
      const exported = await mesh.adminCall<{ identities: number }>((c) => (m, o, cb) => c.exportBackup({}, m, o, cb));
      opts.log(`backup snapshot with ${exported.identities} identities`);
      const files = meshBackupFiles(mesh);
      await startBackupProcess(mesh, files, ['--poll-interval', '5s']);
      gatewayArgs.push('--backup', mesh.address('backup'), '--backup-token-file', files.meshTokenFile);
    }
    if (opts.httpListen !== undefined) gatewayArgs.push('--http-listen', opts.httpListen);
    await mesh.startGateway('eastus', gatewayArgs, env('gateway-eastus'));
  }

  /** The mesh token gateways present to the backup domain. */
  meshTokenMetadata(): Metadata {
    return bearer(fs.readFileSync(meshBackupFiles(this.mesh).meshTokenFile, 'utf8').trim());
  }

  /**
   * Revocation propagation: for each of `count` workloads, disable it at global and poll regional
   * directly until it refuses; the time from the admin call's return to the first refusal. Each
   * workload is enabled again (and seen enabled) before the next.
   */
  async revocation(count: number): Promise<{ p50: number; p99: number; max: number; count: number; timedOut: number }> {
    const { mesh } = this;
    const regional = mesh.tokenClient('regional-eastus');
    const hist = new LatencyHistogram();
    let timedOut = 0;
    const set = (w: TestWorkload, enabled: boolean): Promise<unknown> =>
      mesh.adminCall((c) => (m, o, cb) => c.setAppEnabled({ tenantId: w.tenantId, clientId: w.clientId, enabled }, m, o, cb));
    const pollUntil = async (w: TestWorkload, refused: boolean, limitMs: number): Promise<number | undefined> => {
      const t0 = performance.now();
      while (performance.now() - t0 < limitMs) {
        const out = await acquire(regional, w, 1000);
        const isRefused = out.error?.code === status.PERMISSION_DENIED;
        if (isRefused === refused) return performance.now() - t0;
      }
      return undefined;
    };
    for (let i = 0; i < count; i += 1) {
      const w = this.workloads[this.workloads.length - 1 - (i % this.workloads.length)]!;
      await set(w, false);
      const ms = await pollUntil(w, true, 3000);
      if (ms === undefined) timedOut += 1;
      else hist.recordMs(ms);
      await set(w, true);
      await pollUntil(w, false, 3000);
    }
    const s = hist.summary();
    return { p50: s.p50, p99: s.p99, max: s.max, count, timedOut };
  }

  async stop(): Promise<void> {
    await this.mesh.stop();
  }
}
