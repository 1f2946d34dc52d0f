import assert from 'node:assert/strict';
import { initBackup } from '../../cli/backup-commands.js';
import { backupMemberToken, meshBackupFiles, startBackupProcess, waitForUsageRecorded } from '../support/backup-process.js';
import { TestMesh, acquire, type TestWorkload } from '../support/mesh-harness.js';

interface Sample {
  startMs: number;
  ms: number;
  domain?: string;
  error?: string;
}

/** `callers` closed loops through `call` until `endMs` (and at most `maxCalls` in all). */
async function closedLoop(callers: number, endMs: number, maxCalls: number, call: () => ReturnType<typeof acquire>, out: Sample[]): Promise<void> {
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (Date.now() < endMs && out.length < maxCalls) {
        const startMs = Date.now();
        const o = await call();
        out.push({ startMs, ms: o.ms, ...(o.response ? { domain: o.response.faultDomain } : { error: `${o.error?.code} ${o.error?.details}` }) });
      }
    }),
  );
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};

/**
 * A domain that hangs after a busy period is ejected within about one attempt timeout, whatever
 * its window of answers holds: regional-eastus dead, global busy under 8 closed-loop callers,
 * then global stopped with SIGSTOP. Calls from 1 s after the hang go straight to backup.
 */
describe('hang detection after a busy period (system)', function () {
  this.timeout(120_000);
  const mesh = new TestMesh();
  let w: TestWorkload;

  before(async () => {
    await mesh.startGlobal(['--backup-interval', '0', '--usage-flush', '100ms']);
    const files = meshBackupFiles(mesh);
    await initBackup({ dataDir: files.dataDir, global: mesh.address('global'), meshToken: backupMemberToken(mesh) });
    w = await mesh.addWorkload('busy');
    assert.ok((await acquire(mesh.tokenClient('global'), w)).response);
    await waitForUsageRecorded(mesh.address('global'), [w], { meshToken: mesh.adminToken });
    await mesh.adminCall((c) => (m, o, cb) => c.exportBackup({}, m, o, cb));
    await startBackupProcess(mesh, files);
    await mesh.startRegional('eastus');
    await mesh.startGateway('eastus', ['--backup', mesh.address('backup'), '--backup-token-file', files.meshTokenFile]);
    await mesh.kill('regional-eastus');
  });

  after(async () => {
    if (mesh.procs.get('global')?.child.exitCode === null) mesh.signal('global', 'SIGCONT');
    await mesh.stop();
  });

  it('answers every call from backup, p50 within 20 ms, from 1 s after a busy global hangs', async () => {
    const gw = mesh.tokenClient('gateway-eastus');
    const busy: Sample[] = [];
    await closedLoop(8, Date.now() + 4000, 40_000, () => acquire(gw, w, 5000), busy);
    const busyOk = busy.filter((s) => s.domain === 'global').length;
    const after: Sample[] = [];
    const hungAt = Date.now();
    mesh.signal('global', 'SIGSTOP');
    await closedLoop(8, hungAt + 6000, 60_000, () => acquire(gw, w, 5000), after);

    const late = after.filter((s) => s.startMs >= hungAt + 1000);
    const early = after.filter((s) => s.startMs < hungAt + 1000);
    const byDomain = late.reduce<Record<string, number>>((m, s) => ({ ...m, [s.domain ?? 'failed']: (m[s.domain ?? 'failed'] ?? 0) + 1 }), {});
    const p50 = percentile(late.map((s) => s.ms), 50);
    const ejected = mesh.procs.get('gateway-eastus')!.output.find((l) => l.includes('ejected after'));
    console.log(`      busy global: ${busyOk} of ${busy.length} calls in 4 s from global; hang at t=0`);
    console.log(`      first second after the hang: ${early.length} calls, p50 ${percentile(early.map((s) => s.ms), 50).toFixed(1)} ms`);
    console.log(`      from 1 s to 6 s: ${late.length} calls ${JSON.stringify(byDomain)}, p50 ${p50.toFixed(1)} ms, p99 ${percentile(late.map((s) => s.ms), 99).toFixed(1)} ms`);
    console.log(`      gateway: ${ejected ?? 'no ejection logged'}`);
    assert.ok(busyOk > 0 && busy.every((s) => s.error === undefined), 'global served the busy period');
    assert.deepEqual(after.filter((s) => s.error !== undefined).map((s) => s.error), [], 'failed calls after the hang');
    assert.ok(late.length > 0);
    assert.deepEqual(Object.keys(byDomain), ['backup']);
    assert.ok(p50 <= 20, `p50 ${p50} ms from 1 s after the hang`);
  });
});
