import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { calculateJwkThumbprint } from 'jose';
import { AdminServiceClient, type ExportBackupResponse } from '../../gen/authmesh/admin/v1/admin.js';
import { bearer, unary } from '../../lib/grpc/index.js';
import { ManualClock } from '../../lib/clock/index.js';
import { silentLogger } from '../../lib/log/index.js';
import { openStore } from '../../services/global/store/open-store.js';
import { initPrimary, initStandby, loadOrCreatePassword, PG_USER, promote, STANDBY_NAME, startNode, waitForNode, type PgNode } from '../../scripts/postgres-cluster.js';
import { acquire, printReport, runLoad, TestMesh, type TestWorkload } from '../support/mesh-harness.js';
import { freePort } from '../support/postgres-server.js';
import { sleep, spawnService } from '../support/spawn-service.js';

/**
 * Global as a tier on real processes: a PostgreSQL primary with a synchronous standby, global-1
 * and global-2 on it, a regional and a gateway pointed at both.
 */
describe('global tier on PostgreSQL (real processes)', function () {
  this.timeout(120_000);
  const mesh = new TestMesh();
  const pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-pgpair-'));
  let primary: PgNode;
  let standby: PgNode;
  let primaryProc: ChildProcess;
  let standbyProc: ChildProcess;
  let password = '';
  let url = '';
  const passwordFile = path.join(pgDir, 'password');
  const workloads: TestWorkload[] = [];

  before(async () => {
    fs.chmodSync(pgDir, 0o755);
    password = loadOrCreatePassword(passwordFile);
    primary = { name: 'node-a', dir: path.join(pgDir, 'node-a'), port: await freePort() };
    standby = { name: 'node-b', dir: path.join(pgDir, 'node-b'), port: await freePort() };
    initPrimary(primary, passwordFile);
    initStandby(standby, primary, password);
    standbyProc = startNode(standby, path.join(pgDir, 'node-b.log'));
    primaryProc = startNode(primary, path.join(pgDir, 'node-a.log'), STANDBY_NAME);
    await waitForNode(primary, password, true);
    await waitForNode(standby, password, false);
    url = `postgres://${PG_USER}@127.0.0.1:${primary.port},127.0.0.1:${standby.port}/postgres`;
    await mesh.startGlobalInstances(['global-1', 'global-2'], url, passwordFile);
    await mesh.startRegional('eastus');
    await mesh.startGateway('eastus');
    for (let i = 0; i < 4; i += 1) workloads.push(await mesh.addWorkload(`w-${i}`));
  });

  after(async () => {
    await mesh.stop();
    for (const p of [primaryProc, standbyProc]) if (p?.exitCode === null && p.signalCode === null) p.kill('SIGINT');
    await sleep(500);
    fs.rmSync(pgDir, { recursive: true, force: true });
  });

  /** Admin writes in a loop through the address list, each outcome with its time. */
  function adminWrites(untilMs: number): Promise<{ at: number; ok: boolean; revision?: number; clientId?: string; error?: string }[]> {
    return (async () => {
      const out: { at: number; ok: boolean; revision?: number; clientId?: string; error?: string }[] = [];
      let i = 0;
      while (Date.now() < untilMs) {
        const at = Date.now();
        try {
          const res = await mesh.adminCall<{ clientId: string; revision: number }>((c) => (m, o, cb) => c.createApp({ tenantId: mesh.tenantId, name: `app-${at}-${i++}` }, m, { ...o, deadline: Date.now() + 3000 }, cb));
          out.push({ at, ok: true, revision: res.revision, clientId: res.clientId });
        } catch (err) {
          out.push({ at, ok: false, error: `${(err as ServiceError).code} ${(err as ServiceError).details}` });
          await sleep(50);
        }
        await sleep(20);
      }
      return out;
    })();
  }

  it('stops a regional that watches global-2 from issuing for a certificate credential removed through global-1', async () => {
    // regional-westus is given global-2 alone, so its change feed comes from the other instance.
    const all = mesh.globals;
    mesh.globals = ['global-2'];
    try {
      await mesh.startRegional('westus');
    } finally {
      mesh.globals = all;
    }
    const regional = mesh.tokenClient('regional-westus');
    const w = await mesh.addWorkload('w-propagation');
    const until = async (refused: boolean, limitMs: number): Promise<{ ms: number; code: number | undefined }> => {
      const t0 = performance.now();
      for (;;) {
        const out = await acquire(regional, w, 2000);
        const code = out.error?.code;
        if (refused ? code === status.PERMISSION_DENIED || code === status.UNAUTHENTICATED : out.response !== undefined) return { ms: performance.now() - t0, code };
        if (performance.now() - t0 > limitMs) return { ms: Infinity, code };
        await sleep(5);
      }
    };
    assert.ok((await until(false, 10_000)).ms < Infinity, 'regional-westus issues for the new workload before the removal');
    const keyId = await calculateJwkThumbprint(createPublicKey(w.privateKey).export({ format: 'jwk' }));
    const admin = new AdminServiceClient(mesh.address('global-1'), credentials.createInsecure());
    try {
      await unary((m, o, cb) => admin.removeCredential({ tenantId: w.tenantId, clientId: w.clientId, keyId }, m, o, cb), { metadata: bearer(mesh.adminToken) });
    } finally {
      admin.close();
    }
    const refused = await until(true, 10_000);
    console.log(`      removal on global-1 refused at regional-westus (watching global-2) ${refused.ms.toFixed(1)} ms after the admin call returned`);
    assert.ok(refused.ms < Infinity, `regional-westus refuses the removed credential within 10 s (last code ${refused.code})`);
    // And it stays refused.
    await sleep(300);
    const again = await acquire(regional, w, 2000);
    assert.ok(again.error?.code === status.PERMISSION_DENIED || again.error?.code === status.UNAUTHENTICATED, `still refused after the first refusal: ${again.error?.code}`);
  });

  it('serves every token and takes admin writes on global-2 within 2 s when global-1 is killed with SIGKILL', async () => {
    const gateway = mesh.tokenClient('gateway-eastus');
    let n = 0;
    const duration = 7000;
    const started = Date.now();
    let killedAt = 0;
    const load = runLoad(() => acquire(gateway, workloads[n++ % workloads.length]!), { concurrency: 6, durationMs: duration, maxRequests: 20_000 });
    const writes = adminWrites(started + duration);
    await sleep(2000);
    killedAt = Date.now();
    await mesh.kill('global-1');
    const [report, outcomes] = await Promise.all([load, writes]);
    printReport('tokens through the gateway while global-1 was killed', report);
    const after = outcomes.filter((o) => o.at >= killedAt);
    const firstOk = after.find((o) => o.ok);
    const failed = after.filter((o) => !o.ok);
    const lastFailure = failed.length === 0 ? killedAt : failed[failed.length - 1]!.at;
    console.log(`      admin writes after the kill: ${after.length}, failed ${failed.length}; first success ${firstOk ? firstOk.at - killedAt : '-'} ms after the kill, last failure ${lastFailure - killedAt} ms after it`);
    // The CLI, given every instance, writes through the one that is left.
    const cli = spawnService('cli', 'cli/main.js', ['tenant', 'create', '--name', `cli-${Date.now()}`, '--global', mesh.globalList(), '--mesh-dir', mesh.dir]);
    assert.equal(await cli.exited, 0, cli.output.join('\n'));
    assert.match(cli.output.join('\n'), /revision: \d+/);
    assert.equal(report.failed, 0, `failed token calls: ${report.errors.join('; ')}`);
    assert.ok(firstOk !== undefined && firstOk.at - killedAt <= 2000, 'an admin write succeeded within 2 s of the kill');
    assert.ok(after.filter((o) => o.at - killedAt > 2000).every((o) => o.ok), `every write from 2 s after the kill succeeded: ${failed.map((f) => f.error).join('; ')}`);
  });

  it('keeps every acknowledged write with gap-free revisions, and resumes cache fills, the change feed and the backup export, when the PostgreSQL primary is killed with SIGKILL and the standby promoted', async () => {
    const gateway = mesh.tokenClient('gateway-eastus');
    let n = 0;
    const duration = 9000;
    const started = Date.now();
    const load = runLoad(() => acquire(gateway, workloads[n++ % workloads.length]!), { concurrency: 4, durationMs: duration, maxRequests: 20_000 });
    const writes = adminWrites(started + duration);
    await sleep(2000);
    const killedAt = Date.now();
    primaryProc.kill('SIGKILL');
    await new Promise((r) => primaryProc.once('exit', r));
    // What the mesh runner (or the operator in Kubernetes) does: promote the standby.
    await promote(standby, password);
    const promotedAt = Date.now();
    const [report, outcomes] = await Promise.all([load, writes]);
    printReport('tokens through the gateway while the primary was killed', report);
    const acknowledged = outcomes.filter((o) => o.ok);
    const after = outcomes.filter((o) => o.at >= killedAt);
    const firstOk = after.find((o) => o.ok);
    console.log(
      `      ${acknowledged.length} writes acknowledged, ${outcomes.length - acknowledged.length} refused (UNAVAILABLE); promotion ${promotedAt - killedAt} ms after the kill; writes succeeded again ${firstOk ? firstOk.at - killedAt : '-'} ms after it`,
    );
    assert.equal(report.failed, 0, `failed token calls: ${report.errors.join('; ')}`);
    assert.ok(outcomes.filter((o) => !o.ok).every((o) => /^14 /.test(o.error ?? '')), `refusals are UNAVAILABLE: ${outcomes.filter((o) => !o.ok).map((o) => o.error).join('; ')}`);
    assert.ok(firstOk !== undefined, `writes succeed again after the promotion; refusals: ${[...new Set(after.map((o) => o.error))].join('; ')}\n${mesh.procs.get('global-2')?.output.slice(-8).join('\n')}`);

    const store = await openStore({ store: `postgres://${PG_USER}@127.0.0.1:${standby.port}/postgres`, clock: new ManualClock(), log: silentLogger(), password });
    try {
      for (const w of acknowledged) assert.ok((await store.identity(mesh.tenantId, w.clientId!)) !== undefined, `acknowledged write at revision ${w.revision} is present`);
      const head = await store.head();
      const revisions = (await store.changesAfter(0, head + 10)).map((c) => c.revision);
      assert.deepEqual(revisions, Array.from({ length: head }, (_, i) => i + 1), 'revisions without a gap');
      assert.ok(acknowledged.every((w) => w.revision! <= head));
    } finally {
      await store.close();
    }

    // On the promoted database: regional fills a new identity, a disable reaches it through the
    // change feed, and global exports a backup snapshot that includes the newest revision.
    const fresh = await mesh.addWorkload('after-promotion');
    const regional = mesh.tokenClient('regional-eastus');
    const issued = await acquire(regional, fresh, 3000);
    assert.equal(issued.response?.faultDomain, 'regional/eastus', `regional fills an identity created after the promotion: ${issued.error?.code} ${issued.error?.details}`);
    const disabled = await mesh.adminCall<{ revision: number }>((c) => (m, o, cb) => c.setAppEnabled({ tenantId: fresh.tenantId, clientId: fresh.clientId, enabled: false }, m, o, cb));
    const disabledAt = Date.now();
    let refusedAfter = Infinity;
    while (Date.now() - disabledAt < 10_000) {
      const o = await acquire(regional, fresh, 2000);
      if (o.response === undefined && (o.error?.code === status.UNAUTHENTICATED || o.error?.code === status.PERMISSION_DENIED)) {
        refusedAfter = Date.now() - disabledAt;
        break;
      }
      await sleep(25);
    }
    console.log(`      after the promotion: disable at revision ${disabled.revision} refused at regional-eastus ${refusedAfter} ms after it was acknowledged`);
    assert.ok(refusedAfter < Infinity, 'the change feed reaches regional-eastus again after the promotion');
    const exported = await mesh.adminCall<ExportBackupResponse>((c) => (m, o, cb) => c.exportBackup({}, m, o, cb));
    assert.ok(exported.revision >= disabled.revision, `the backup export after the promotion covers revision ${disabled.revision} (got ${exported.revision})`);
  });
});
