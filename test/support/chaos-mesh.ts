import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { initBackup } from '../../cli/backup-commands.js';
import { FaultInjectionServiceClient, type SetFaultsRequest } from '../../gen/authmesh/fault/v1/fault.js';
import { BreakerState, GatewayAdminServiceClient, type GetStatusResponse } from '../../gen/authmesh/gateway/v1/gateway.js';
import { bearer, unary } from '../../lib/grpc/index.js';
import { backupMemberToken, meshBackupFiles, startBackupProcess, waitForUsageRecorded, type BackupFiles } from './backup-process.js';
import { TestMesh, acquire, type AcquireOutcome, type LoadReport, type TestWorkload } from './mesh-harness.js';
import { sleep } from './spawn-service.js';

/** Full form (`make chaos`, AUTHMESH_CHAOS=full) runs longer with more callers than the short one. */
export const CHAOS_FULL = process.env.AUTHMESH_CHAOS === 'full';

/** Deadline every chaos caller sets; no call may take longer. */
export const CLIENT_DEADLINE_MS = 5000;

/** Load shape of one scenario in the short and the full form. */
export const LOAD = CHAOS_FULL
  ? { concurrency: 12, durationMs: 20_000, maxRequests: 60_000, identities: 40 }
  : { concurrency: 6, durationMs: 3_000, maxRequests: 6_000, identities: 10 };

/** One row of the chaos table. */
export interface ScenarioResult {
  scenario: string;
  fault: string;
  sent: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  servedBy: Record<string, number>;
  errors: string[];
}

/**
 * The whole mesh on real processes for chaos scenarios: global, regional-eastus, backup (all
 * with the fault-injection hook on) and gateway-eastus, with `identities` workloads that have
 * authenticated through the primary, are cached in the region and are covered by the backup.
 */
export class ChaosMesh {
  /** With mutual TLS inside the mesh, as production runs it. */
  readonly mesh = new TestMesh({ meshTls: true });
  readonly results: ScenarioResult[] = [];
  workloads: TestWorkload[] = [];
  files!: BackupFiles;
  private next = 0;

  async start(identities: number): Promise<void> {
    const mesh = this.mesh;
    await mesh.startGlobal(['--fault-injection', '--backup-interval', '0', '--usage-flush', '100ms']);
    this.files = meshBackupFiles(mesh);
    await initBackup({ dataDir: this.files.dataDir, global: mesh.address('global'), meshToken: backupMemberToken(mesh), channelCredentials: mesh.credentialsAs('backup') });
    for (let i = 0; i < identities; i += 1) this.workloads.push(await mesh.addWorkload(`chaos-${i}`));
    const global = mesh.tokenClient('global');
    for (const w of this.workloads) {
      const r = await acquire(global, w);
      if (!r.response) throw new Error(`warm-up through global failed: ${r.error?.details}`);
    }
    // The usage flush has landed, so the export covers every workload.
    await waitForUsageRecorded(mesh.address('global'), this.workloads, { meshToken: mesh.adminToken, channelCredentials: mesh.credentialsAs('admin') });
    await this.exportBackup();
    await startBackupProcess(mesh, this.files, ['--fault-injection']);
    await mesh.startRegional('eastus', ['--fault-injection']);
    await mesh.startGateway('eastus', ['--backup', mesh.address('backup'), '--backup-token-file', this.files.meshTokenFile]);
    await this.settle();
  }

  async exportBackup(): Promise<void> {
    await this.mesh.adminCall((c) => (m, o, cb) => c.exportBackup({}, m, o, cb));
  }

  /** The next workload, round robin, so load comes from many identities. */
  workload(): TestWorkload {
    const w = this.workloads[this.next % this.workloads.length]!;
    this.next += 1;
    return w;
  }

  /** One call through the gateway as a workload with the client deadline. */
  callGateway(w: TestWorkload = this.workload()): Promise<AcquireOutcome> {
    return acquire(this.mesh.tokenClient('gateway-eastus'), w, CLIENT_DEADLINE_MS);
  }

  async setFaults(name: string, faults: Partial<SetFaultsRequest>): Promise<void> {
    const client = new FaultInjectionServiceClient(this.mesh.address(name), name.startsWith('gateway-') ? credentials.createInsecure() : this.mesh.credentialsAs('admin'));
    try {
      await unary((m, o, cb) => client.setFaults({ latencyMs: 0, errorRate: 0, errorCode: 0, ...faults }, m, o, cb));
    } finally {
      client.close();
    }
  }

  async clearFaults(name: string): Promise<void> {
    const client = new FaultInjectionServiceClient(this.mesh.address(name), name.startsWith('gateway-') ? credentials.createInsecure() : this.mesh.credentialsAs('admin'));
    try {
      await unary((m, o, cb) => client.clearFaults({}, m, o, cb));
    } finally {
      client.close();
    }
  }

  /** Each fault domain of gateway-eastus as its GetStatus reports it (which takes the mesh token). */
  private async gatewayDomains(): Promise<GetStatusResponse['domains']> {
    const client = new GatewayAdminServiceClient(this.mesh.address('gateway-eastus'), credentials.createInsecure());
    try {
      const token = fs.readFileSync(this.files.meshTokenFile, 'utf8').trim();
      const s = await unary<GetStatusResponse>((m, o, cb) => client.getStatus({}, m, o, cb), { metadata: bearer(token), timeoutMs: 2000 });
      return s.domains;
    } finally {
      client.close();
    }
  }

  /** The state of each breaker of gateway-eastus, by its GetStatus. */
  async gatewayBreakers(): Promise<string[]> {
    return (await this.gatewayDomains()).map((d) => (d.breakerState === BreakerState.BREAKER_STATE_CLOSED ? 'closed' : `${d.name} ${d.breakerState}`));
  }

  /** Restarts a process that was killed (same port, same data). */
  async restart(name: string): Promise<void> {
    await this.mesh.kill(name);
    await this.mesh.start(name);
  }

  /**
   * Waits (at most 45 s) until every workload is served through the gateway by regional/eastus
   * again and the gateway's recent window (10 s) holds no latency figures of global or backup from
   * the last scenario, so the next scenario starts from a healthy mesh: with those figures still
   * fresh, a moment of contention on regional's few new samples could rank it behind global by
   * latency, as the route plan does by design.
   */
  async settle(): Promise<void> {
    const until = Date.now() + 45_000;
    let streak = 0;
    while (Date.now() < until && streak < this.workloads.length) {
      const r = await this.callGateway();
      streak = r.response?.faultDomain === 'regional/eastus' ? streak + 1 : 0;
      if (streak === 0) await sleep(200);
    }
    if (streak < this.workloads.length) throw new Error('the mesh did not return to regional/eastus within 45 s');
    while (Date.now() < until) {
      const domains = await this.gatewayDomains();
      if (domains.every((d) => d.name === 'regional/eastus' || d.p99Ms === 0)) return;
      await sleep(250);
    }
    throw new Error("global's or backup's figures stayed in the gateway's recent window for 45 s");
  }

  record(scenario: string, fault: string, r: LoadReport): ScenarioResult {
    const row: ScenarioResult = { scenario, fault, sent: r.sent, failed: r.failed, p50Ms: r.p50, p99Ms: r.p99, maxMs: r.maxMs, servedBy: r.byDomain, errors: r.errors };
    this.results.push(row);
    console.log(formatTable([row]).replace(/^/gm, '      '));
    return row;
  }

  /** Writes every row as JSON (AUTHMESH_CHAOS_REPORT, else the temp dir) and prints the table. */
  writeReport(): string {
    const file = process.env.AUTHMESH_CHAOS_REPORT ?? path.join(os.tmpdir(), 'authmesh-chaos-report.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const form = CHAOS_FULL ? 'full' : 'short';
    fs.writeFileSync(file, `${JSON.stringify({ form, load: LOAD, clientDeadlineMs: CLIENT_DEADLINE_MS, at: new Date().toISOString(), scenarios: this.results }, null, 2)}\n`);
    console.log(`\n      chaos table (${form} form, ${LOAD.concurrency} callers, client deadline ${CLIENT_DEADLINE_MS} ms), JSON in ${file}`);
    console.log(formatTable(this.results).replace(/^/gm, '      '));
    return file;
  }

  async stop(): Promise<void> {
    await this.mesh.stop();
  }
}

/** A Markdown table of scenario rows. */
export function formatTable(rows: readonly ScenarioResult[]): string {
  const served = (s: Record<string, number>): string =>
    Object.entries(s)
      .sort((a, b) => b[1] - a[1])
      .map(([d, n]) => `${d} ${n}`)
      .join(', ') || '-';
  const lines = [
    '| scenario | fault | sent | failed | p50 ms | p99 ms | max ms | served by |',
    '|---|---|---:|---:|---:|---:|---:|---|',
    ...rows.map((r) => `| ${r.scenario} | ${r.fault} | ${r.sent} | ${r.failed} | ${r.p50Ms} | ${r.p99Ms} | ${r.maxMs} | ${served(r.servedBy)} |`),
  ];
  return lines.join('\n');
}
