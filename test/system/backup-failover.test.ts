import assert from 'node:assert/strict';
import fs from 'node:fs';
import { status } from '@grpc/grpc-js';
import { createLocalJWKSet, jwtVerify, type JWTVerifyResult } from 'jose';
import type { ExportBackupResponse } from '../../gen/authmesh/admin/v1/admin.js';
import { initBackup } from '../../cli/backup-commands.js';
import { acquireDirect, backupMemberToken, backupStatusOf, meshBackupFiles, startBackupProcess, waitForUsageRecorded, workloadRequest, type BackupFiles } from '../support/backup-process.js';
import { TestMesh, acquire, printReport, runLoad, type TestWorkload } from '../support/mesh-harness.js';

/**
 * The backup fault domain on real processes: global exports a snapshot, the backup loads it,
 * the gateway falls back to it when regional is killed and global is hung.
 */
describe('backup failover (system)', function () {
  this.timeout(120_000);
  let mesh: TestMesh;
  let files: BackupFiles;
  let meshToken: string;
  let served: TestWorkload;
  let disabled: TestWorkload;
  let never: TestWorkload;
  let exported: ExportBackupResponse;

  before(async () => {
    mesh = new TestMesh();
    await mesh.startGlobal(['--backup-interval', '0', '--usage-flush', '100ms']);
    files = meshBackupFiles(mesh);
    meshToken = fs.readFileSync(files.meshTokenFile, 'utf8').trim();
    await initBackup({ dataDir: files.dataDir, global: mesh.address('global'), meshToken: backupMemberToken(mesh) });
    served = await mesh.addWorkload('served');
    disabled = await mesh.addWorkload('disabled-before-export');
    never = await mesh.addWorkload('never-authenticated');
    const globalClient = mesh.tokenClient('global');
    for (const w of [served, disabled]) {
      const r = await acquire(globalClient, w);
      assert.equal(r.response?.faultDomain, 'global', r.error?.details);
    }
    await waitForUsageRecorded(mesh.address('global'), [served, disabled], { meshToken: mesh.adminToken }); // last_authenticated_at_ms is written
    await mesh.adminCall((c) => (m, o, cb) => c.setAppEnabled({ tenantId: disabled.tenantId, clientId: disabled.clientId, enabled: false }, m, o, cb));
    exported = await mesh.adminCall<ExportBackupResponse>((c) => (m, o, cb) => c.exportBackup({}, m, o, cb));
    await startBackupProcess(mesh, files);
    await mesh.startRegional('eastus');
    await mesh.startGateway('eastus', ['--backup', mesh.address('backup'), '--backup-token-file', files.meshTokenFile]);
  });

  after(async () => {
    await mesh?.stop();
  });

  it('serves the exported revision when the export loads', async () => {
    const s = await backupStatusOf(mesh.address('backup'));
    console.log(`      exported revision=${exported.revision} identities=${exported.identities} snapshot=${exported.snapshotName}; backup status: revision=${s.revision} age=${s.ageMs}ms covered=${s.coveredIdentities}/${s.identities}`);
    assert.equal(s.serving, true);
    assert.equal(s.revision, exported.revision);
    assert.equal(s.coveredIdentities, 1);
  });

  it('refuses UNAUTHENTICATED when called directly without the mesh token', async () => {
    const r = await acquireDirect(mesh.address('backup'), workloadRequest(served), undefined);
    assert.equal(r.error?.code, status.UNAUTHENTICATED);
    const wrong = await acquireDirect(mesh.address('backup'), workloadRequest(served), 'not-the-mesh-token-at-all');
    assert.equal(wrong.error?.code, status.UNAUTHENTICATED);
  });

  it('issues a token that verifies with the JWK Set fetched from global and from regional', async () => {
    const r = await acquireDirect(mesh.address('backup'), workloadRequest(served), meshToken);
    assert.equal(r.response?.faultDomain, 'backup', r.error?.details);
    assert.equal(r.response?.expiresIn, 900);
    for (const domain of ['global', 'regional-eastus']) {
      const jwksJson = await new Promise<string>((resolve, reject) =>
        mesh.tokenClient(domain).getJwks({ tenantId: served.tenantId }, (err, res) => (err ? reject(err) : resolve(res.jwksJson))),
      );
      const keys = createLocalJWKSet(JSON.parse(jwksJson) as Parameters<typeof createLocalJWKSet>[0]);
      const { payload, protectedHeader }: JWTVerifyResult = await jwtVerify(r.response!.accessToken, keys, { typ: 'at+jwt' });
      assert.equal(payload.fault_domain, 'backup');
      assert.equal(payload.client_id, served.clientId);
      console.log(`      backup token kid=${protectedHeader.kid} verified with the JWK Set from ${domain}`);
    }
  });

  it('refuses backup-not-covered for an app disabled before the export and for one that never authenticated', async () => {
    for (const w of [disabled, never]) {
      const r = await acquireDirect(mesh.address('backup'), workloadRequest(w), meshToken);
      assert.equal(r.error?.code, status.UNAVAILABLE, r.response?.faultDomain);
      assert.equal(r.reason, 'backup-not-covered');
    }
  });

  it('serves every request from backup with zero failures when regional-eastus is killed and global hung', async () => {
    const gw = mesh.tokenClient('gateway-eastus');
    const warm = await acquire(gw, served);
    assert.ok(warm.response, warm.error?.details);
    await mesh.kill('regional-eastus');
    mesh.signal('global', 'SIGSTOP');
    try {
      const report = await runLoad(() => acquire(gw, served, 5000), { concurrency: 8, durationMs: 10_000 });
      printReport('regional killed + global hung, 8 callers x 10 s', report);
      assert.equal(report.failed, 0, report.errors.join('; '));
      assert.ok((report.byDomain.backup ?? 0) > 0);
      assert.deepEqual(Object.keys(report.byDomain), ['backup']);
    } finally {
      mesh.signal('global', 'SIGCONT');
    }
  });
});
