/**
 * The global store section of `make bench`, SQLite and PostgreSQL side by side, on real
 * processes: admin writes per second through the admin gRPC API (a bounded closed loop), a
 * revoke's propagation to a regional watching the other global instance, the time from a global
 * instance's kill -9 (and, on PostgreSQL, the primary's) until admin writes succeed again, and
 * the export of a directory of 100k identities.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { AdminServiceClient } from '../gen/authmesh/admin/v1/admin.js';
import { ManualClock } from '../lib/clock/index.js';
import { bearer, unary } from '../lib/grpc/index.js';
import { silentLogger } from '../lib/log/index.js';
import { initPrimary, initStandby, loadOrCreatePassword, PG_USER, postgresBinaries, promote, STANDBY_NAME, startNode, waitForNode, type PgNode } from '../scripts/postgres-cluster.js';
import { openStore } from '../services/global/store/open-store.js';
import { acquire, TestMesh, type TestWorkload } from '../test/support/mesh-harness.js';
import { freePort } from '../test/support/postgres-server.js';
import { sleep } from '../test/support/spawn-service.js';
import { LatencyHistogram } from './histogram.js';

export interface StoreBenchSettings {
  /** Admin write loop: calls in flight and its length. */
  writeConcurrency: number;
  writeDurationMs: number;
  /** Revokes measured for propagation. */
  revokes: number;
  /** Identities in the exported directory. */
  exportIdentities: number;
  log: (line: string) => void;
}

export interface StoreBenchRow {
  engine: 'sqlite' | 'postgres';
  /** Where the regional's change feed comes from, relative to where the revoke was written. */
  topology: string;
  writes: { perSecond: number; ok: number; failed: number; p50: number; p99: number };
  propagation: { count: number; p50: number; p99: number; max: number; timedOut: number };
  export: { identities: number; ms: number; bytes: number };
  /** kill -9 of a global instance until the next admin write succeeds (SQLite: the instance restarted). */
  globalKillMs: number | undefined;
  /** PostgreSQL: kill -9 of the primary (standby promoted at once) until the next admin write succeeds. */
  primaryKillMs?: number | undefined;
}

type Admin = InstanceType<typeof AdminServiceClient>;

function adminClient(address: string): Admin {
  return new AdminServiceClient(address, credentials.createInsecure());
}

/** A closed loop of CreateApp calls for `durationMs`, `concurrency` in flight. */
async function adminWriteRate(mesh: TestMesh, address: string, s: StoreBenchSettings): Promise<StoreBenchRow['writes']> {
  const client = adminClient(address);
  const metadata = bearer(mesh.adminToken);
  const hist = new LatencyHistogram();
  let ok = 0;
  let failed = 0;
  let n = 0;
  const started = performance.now();
  const until = started + s.writeDurationMs;
  const worker = async (): Promise<void> => {
    while (performance.now() < until) {
      const t0 = performance.now();
      try {
        await unary((m, o, cb) => client.createApp({ tenantId: mesh.tenantId, name: `bench-w-${Date.now()}-${n++}` }, m, o, cb), { metadata });
        ok += 1;
        hist.recordMs(performance.now() - t0);
      } catch {
        failed += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: s.writeConcurrency }, worker));
  const elapsedS = (performance.now() - started) / 1000;
  client.close();
  const h = hist.summary();
  return { perSecond: Math.round(ok / elapsedS), ok, failed, p50: h.p50, p99: h.p99 };
}

/**
 * For each revoke: disable a workload through `writeAddress` and poll the regional until it
 * refuses; the time from the admin call's return to the first refusal. The workload is enabled
 * again (and seen issuing) before the next.
 */
async function propagation(mesh: TestMesh, writeAddress: string, regionalName: string, workloads: TestWorkload[], count: number): Promise<StoreBenchRow['propagation']> {
  const regional = mesh.tokenClient(regionalName);
  const client = adminClient(writeAddress);
  const metadata = bearer(mesh.adminToken);
  const hist = new LatencyHistogram();
  let timedOut = 0;
  const set = (w: TestWorkload, enabled: boolean): Promise<unknown> =>
    unary((m, o, cb) => client.setAppEnabled({ tenantId: w.tenantId, clientId: w.clientId, enabled }, m, o, cb), { metadata });
  const pollUntil = async (w: TestWorkload, refused: boolean, limitMs: number): Promise<number | undefined> => {
    const t0 = performance.now();
    while (performance.now() - t0 < limitMs) {
      const out = await acquire(regional, w, 1000);
      if ((out.error?.code === status.PERMISSION_DENIED) === refused && (refused || out.response !== undefined)) return performance.now() - t0;
    }
    return undefined;
  };
  try {
    for (const w of workloads) await pollUntil(w, false, 10_000);
    for (let i = 0; i < count; i += 1) {
      const w = workloads[i % workloads.length]!;
      await set(w, false);
      const ms = await pollUntil(w, true, 3000);
      if (ms === undefined) timedOut += 1;
      else hist.recordMs(ms);
      await set(w, true);
      await pollUntil(w, false, 3000);
    }
  } finally {
    client.close();
  }
  const h = hist.summary();
  return { count, p50: h.p50, p99: h.p99, max: h.max, timedOut };
}

/**
 * Admin writes through every global instance in a loop while `fault` runs; the time from the
 * moment `fault` reports (the kill) to the first write that succeeds after it.
 */
async function writesAgainAfter(mesh: TestMesh, fault: (killed: () => void) => Promise<void>, limitMs = 30_000): Promise<number | undefined> {
  let stop = false;
  let firstOkAfter: number | undefined;
  let killedAt = Infinity;
  let i = 0;
  const loop = (async () => {
    while (!stop) {
      const at = Date.now();
      try {
        await mesh.adminCall((c) => (m, o, cb) => c.createApp({ tenantId: mesh.tenantId, name: `bench-k-${at}-${i++}` }, m, { ...o, deadline: Date.now() + 2000 }, cb));
        if (at >= killedAt && firstOkAfter === undefined) {
          firstOkAfter = Date.now();
          stop = true;
        }
      } catch (err) {
        if ((err as ServiceError).code === undefined) throw err;
        await sleep(20);
      }
      await sleep(10);
    }
  })();
  await sleep(500);
  await fault(() => (killedAt = Date.now()));
  const until = Date.now() + limitMs;
  while (firstOkAfter === undefined && Date.now() < until) await sleep(20);
  stop = true;
  await loop;
  return firstOkAfter === undefined ? undefined : firstOkAfter - killedAt;
}

/** Export of `n` identities: rows loaded in bulk with SQL (the change log is not involved), then exportState() timed and encoded as the backup's lines. */
async function timedExport(store: Awaited<ReturnType<typeof openStore>>, n: number): Promise<StoreBenchRow['export']> {
  const t0 = performance.now();
  const state = await store.exportState();
  let bytes = 0;
  for (const signingKey of state.signingKeys) bytes += Buffer.byteLength(JSON.stringify({ signingKey })) + 1;
  for (const tenant of state.tenants) bytes += Buffer.byteLength(JSON.stringify({ tenant })) + 1;
  for (const identity of state.identities) bytes += Buffer.byteLength(JSON.stringify({ identity })) + 1;
  const ms = performance.now() - t0;
  if (state.identities.length < n) throw new Error(`export holds ${state.identities.length} identities, expected at least ${n}`);
  return { identities: state.identities.length, ms: Math.round(ms), bytes };
}

const BULK_SQL = (param: string, series: string): string =>
  `INSERT INTO apps (tenant_id, client_id, object_id, name, enabled, created_at_ms) SELECT ${param}, 'bulk-' || g, 'bulk-obj-' || g, 'bulk-' || g, 1, 0 FROM ${series}`;

async function sqliteExport(n: number): Promise<StoreBenchRow['export']> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-bench-export-'));
  const file = path.join(dir, 'directory.db');
  try {
    const store = await openStore({ store: file, clock: new ManualClock(), log: silentLogger() });
    try {
      const { tenantId } = await store.createTenant('bulk');
      const db = new Database(file);
      db.prepare(`WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ${n}) ${BULK_SQL('?', 's')}`).run(tenantId);
      db.close();
      return await timedExport(store, n);
    } finally {
      await store.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function postgresExport(url: string, password: string, n: number): Promise<StoreBenchRow['export']> {
  const store = await openStore({ store: url, clock: new ManualClock(), log: silentLogger(), password });
  try {
    const { tenantId } = await store.createTenant(`bulk-${Date.now()}`);
    const u = new URL(url);
    const client = new pg.Client({ host: u.hostname, port: Number(u.port), user: PG_USER, database: 'postgres', password });
    await client.connect();
    try {
      await client.query(BULK_SQL('$1', `generate_series(1, ${n}) g`), [tenantId]);
    } finally {
      await client.end();
    }
    return await timedExport(store, n);
  } finally {
    await store.close();
  }
}

async function workloadsOf(mesh: TestMesh, n: number): Promise<TestWorkload[]> {
  const out: TestWorkload[] = [];
  for (let i = 0; i < n; i += 1) out.push(await mesh.addWorkload(`store-bench-${i}`));
  return out;
}

/** SQLite: one global instance (the engine is embedded), a regional watching it. */
export async function benchSqlite(s: StoreBenchSettings): Promise<StoreBenchRow> {
  const mesh = new TestMesh();
  try {
    s.log('store: sqlite mesh');
    await mesh.startGlobal();
    await mesh.startRegional('eastus');
    const workloads = await workloadsOf(mesh, 5);
    s.log('store: sqlite admin writes');
    const writes = await adminWriteRate(mesh, mesh.address('global'), s);
    s.log('store: sqlite revoke propagation');
    const prop = await propagation(mesh, mesh.address('global'), 'regional-eastus', workloads, s.revokes);
    s.log('store: sqlite kill -9 of global, restarted');
    const globalKillMs = await writesAgainAfter(mesh, async (killed) => {
      await mesh.kill('global');
      killed();
      await mesh.start('global');
    });
    s.log('store: sqlite export');
    const exported = await sqliteExport(s.exportIdentities);
    return { engine: 'sqlite', topology: 'one instance: revoke written and watched on the same global', writes, propagation: prop, export: exported, globalKillMs };
  } finally {
    await mesh.stop();
  }
}

/** PostgreSQL: a primary with a synchronous standby, global-1 and global-2 on it, a regional watching global-2 only. */
export async function benchPostgres(s: StoreBenchSettings): Promise<StoreBenchRow> {
  postgresBinaries();
  const mesh = new TestMesh();
  const pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-bench-pg-'));
  const procs: ChildProcess[] = [];
  try {
    s.log('store: postgres primary and standby');
    fs.chmodSync(pgDir, 0o755);
    const passwordFile = path.join(pgDir, 'password');
    const password = loadOrCreatePassword(passwordFile);
    const primary: PgNode = { name: 'node-a', dir: path.join(pgDir, 'node-a'), port: await freePort() };
    const standby: PgNode = { name: 'node-b', dir: path.join(pgDir, 'node-b'), port: await freePort() };
    initPrimary(primary, passwordFile);
    initStandby(standby, primary, password);
    procs.push(startNode(standby, path.join(pgDir, 'node-b.log')));
    const primaryProc = startNode(primary, path.join(pgDir, 'node-a.log'), STANDBY_NAME);
    procs.push(primaryProc);
    await waitForNode(primary, password, true);
    await waitForNode(standby, password, false);
    const url = `postgres://${PG_USER}@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/postgres`;
    s.log('store: postgres mesh');
    await mesh.startGlobalInstances(['global-1', 'global-2'], url, passwordFile);
    mesh.globals = ['global-2'];
    await mesh.startRegional('eastus');
    mesh.globals = ['global-1', 'global-2'];
    const workloads = await workloadsOf(mesh, 5);
    s.log('store: postgres admin writes');
    const writes = await adminWriteRate(mesh, mesh.address('global-1'), s);
    s.log('store: postgres revoke propagation (written on global-1, watched through global-2)');
    const prop = await propagation(mesh, mesh.address('global-1'), 'regional-eastus', workloads, s.revokes);
    s.log('store: postgres kill -9 of global-1');
    const globalKillMs = await writesAgainAfter(mesh, async (killed) => {
      await mesh.kill('global-1');
      killed();
    });
    s.log('store: postgres kill -9 of the primary, standby promoted');
    const primaryKillMs = await writesAgainAfter(mesh, async (killed) => {
      const exited = new Promise((r) => primaryProc.once('exit', r));
      primaryProc.kill('SIGKILL');
      killed();
      await exited;
      // What the mesh runner (or the operator) does: promote the standby.
      await promote(standby, password);
    });
    s.log('store: postgres export');
    const exported = await postgresExport(`postgres://${PG_USER}@127.0.0.1:${standby.port}/postgres`, password, s.exportIdentities);
    return { engine: 'postgres', topology: 'two instances: revoke written on global-1, regional watching global-2', writes, propagation: prop, export: exported, globalKillMs, primaryKillMs };
  } finally {
    await mesh.stop();
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGINT');
    await sleep(500);
    fs.rmSync(pgDir, { recursive: true, force: true });
  }
}
