import assert from 'node:assert/strict';
import fs from 'node:fs';
import { status } from '@grpc/grpc-js';
import { initBackup } from '../../cli/backup-commands.js';
import { FaultInjectionServiceClient } from '../../gen/authmesh/fault/v1/fault.js';
import { unary } from '../../lib/grpc/index.js';
import { backupMemberToken, meshBackupFiles, startBackupProcess, waitForUsageRecorded } from '../support/backup-process.js';
import { TestMesh, acquire, printReport, type AcquireOutcome, type TestWorkload } from '../support/mesh-harness.js';

const reasonOf = (o: AcquireOutcome): string => String(o.error?.metadata?.get('authmesh-reason')[0] ?? o.trailers?.get('authmesh-reason')[0] ?? '');
const oauthOf = (o: AcquireOutcome): string => String(o.error?.metadata?.get('oauth-error')[0] ?? o.trailers?.get('oauth-error')[0] ?? '');

/** Resident memory of a process we started, in MB, from /proc. */
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Math.round(Number(m[1]) / 1024);
}

/**
 * Overload on real processes: global's admission control refuses quickly beyond its limits and
 * the gateway moves on to backup; a saturated gateway sheds with RESOURCE_EXHAUSTED (overloaded).
 */
describe('overload (admission control and shedding)', function () {
  this.timeout(120_000);
  const mesh = new TestMesh({ meshTls: true });
  let w: TestWorkload;

  const setGlobalLatency = async (latencyMs: number): Promise<void> => {
    const client = new FaultInjectionServiceClient(mesh.address('global'), mesh.credentialsAs('admin'));
    try {
      await unary((m, o, cb) => client.setFaults({ latencyMs, errorRate: 0, errorCode: 0 }, m, o, cb));
    } finally {
      client.close();
    }
  };

  before(async () => {
    // Two calls at once, two waiting for at most 200 ms: a small global that a burst overruns.
    await mesh.startGlobal(['--fault-injection', '--max-concurrent', '2', '--max-queue', '2', '--max-queue-wait', '200ms', '--backup-interval', '0', '--usage-flush', '100ms']);
    const files = meshBackupFiles(mesh);
    await initBackup({ dataDir: files.dataDir, global: mesh.address('global'), meshToken: backupMemberToken(mesh), channelCredentials: mesh.credentialsAs('backup') });
    w = await mesh.addWorkload('overloaded');
    assert.ok((await acquire(mesh.tokenClient('global'), w)).response);
    await waitForUsageRecorded(mesh.address('global'), [w], { meshToken: mesh.adminToken, channelCredentials: mesh.credentialsAs('admin') });
    await mesh.adminCall((c) => (m, o, cb) => c.exportBackup({}, m, o, cb));
    await startBackupProcess(mesh, files);
    await mesh.startRegional('eastus');
    await mesh.startGateway('eastus', ['--backup', mesh.address('backup'), '--backup-token-file', files.meshTokenFile]);
    await mesh.kill('regional-eastus'); // every call goes to global first
    await mesh.start('gateway-small', 'gateway/main.js', (port) => [
      '--region', 'eastus', '--listen', `127.0.0.1:${port}`, '--regional', mesh.address('regional-eastus'), '--global', mesh.address('global'), '--max-in-flight', '4',
    ]);
    await setGlobalLatency(300);
  });

  after(async () => {
    await mesh.stop();
  });

  it('answers a burst beyond its limits directly with fast RESOURCE_EXHAUSTED (overloaded)', async () => {
    const global = mesh.tokenClient('global');
    const burst = await Promise.all(Array.from({ length: 40 }, () => acquire(global, w, 5000)));
    const ok = burst.filter((o) => o.response);
    const refused = burst.filter((o) => o.error?.code === status.RESOURCE_EXHAUSTED);
    const slowestRefusal = Math.max(...refused.map((o) => o.ms));
    console.log(`      40 at once on global (2 running, 2 queued): ${ok.length} served, ${refused.length} RESOURCE_EXHAUSTED, slowest refusal ${Math.round(slowestRefusal)} ms`);
    assert.equal(ok.length + refused.length, 40, burst.map((o) => o.error?.details).join('; '));
    assert.ok(refused.length >= 34, `only ${refused.length} refused`);
    assert.ok(ok.length >= 2);
    for (const o of refused) {
      assert.equal(reasonOf(o), 'overloaded');
      assert.equal(oauthOf(o), 'temporarily_unavailable');
    }
    // Refused at once, or after the 200 ms queue wait; the bound is generous for a busy machine.
    assert.ok(slowestRefusal < 2000, `a refusal took ${slowestRefusal} ms`);
  });

  it('serves the same burst through the gateway, moving on to backup', async () => {
    const gw = mesh.tokenClient('gateway-eastus');
    const burst = await Promise.all(Array.from({ length: 40 }, () => acquire(gw, w, 5000)));
    const byDomain: Record<string, number> = {};
    for (const o of burst) if (o.response) byDomain[o.response.faultDomain] = (byDomain[o.response.faultDomain] ?? 0) + 1;
    const failed = burst.filter((o) => o.error);
    console.log(`      40 at once via gateway-eastus: ${JSON.stringify(byDomain)}, failed ${failed.length}, slowest ${Math.round(Math.max(...burst.map((o) => o.ms)))} ms`);
    assert.equal(failed.length, 0, failed.map((o) => `${o.error?.code} ${o.error?.details}`).join('; '));
    assert.ok((byDomain.backup ?? 0) > 0, 'backup took the overflow');
  });

  it('keeps global small and alive under a 400-call burst (bounded queue)', async () => {
    const pid = mesh.procs.get('global')!.child.pid!;
    const before = rssMb(pid);
    const global = mesh.tokenClient('global');
    const burst = await Promise.all(Array.from({ length: 400 }, () => acquire(global, w, 5000)));
    const after = rssMb(pid);
    const refused = burst.filter((o) => o.error?.code === status.RESOURCE_EXHAUSTED).length;
    console.log(`      400 at once on global: ${refused} refused; RSS ${before} MB → ${after} MB`);
    assert.equal(mesh.procs.get('global')!.child.exitCode, null, 'global is still running');
    assert.ok(refused >= 390);
    assert.ok(after - before < 100, `RSS grew ${after - before} MB`);
  });

  it('sheds calls past --max-in-flight at the gateway with RESOURCE_EXHAUSTED (overloaded), quickly', async () => {
    await setGlobalLatency(1000); // the small gateway's calls stay in flight ~1 s
    try {
      const gw = mesh.tokenClient('gateway-small');
      const burst = await Promise.all(Array.from({ length: 30 }, () => acquire(gw, w, 5000)));
      const shed = burst.filter((o) => o.error?.code === status.RESOURCE_EXHAUSTED && reasonOf(o) === 'overloaded');
      const report = { sent: 30, failed: burst.filter((o) => o.error).length, byDomain: {}, p50: 0, p99: 0, maxMs: Math.round(Math.max(...shed.map((o) => o.ms))), errors: [] };
      printReport('gateway --max-in-flight 4, 30 at once (shed max ms)', report);
      assert.ok(shed.length >= 26, `only ${shed.length} shed`);
      for (const o of shed) {
        assert.equal(oauthOf(o), 'temporarily_unavailable');
        assert.ok(o.ms < 1000, `a shed call took ${o.ms} ms, as long as a forwarded call`);
      }
    } finally {
      await setGlobalLatency(300);
    }
  });
});
