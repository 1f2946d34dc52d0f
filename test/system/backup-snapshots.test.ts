import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { encodeSnapshot, FolderBackupStore, snapshotName, type ExportSigner } from '../../lib/backup/index.js';
import { hashSecret } from '../../lib/token/index.js';
import { exportKeyPair, syntheticContent } from '../support/backup-fixtures.js';
import { acquireDirect, backupStatusOf, healthOf, startBackupProcess, type BackupFiles } from '../support/backup-process.js';
import { TestMesh } from '../support/mesh-harness.js';
import { sleep } from '../support/spawn-service.js';

const SECRET = 'backup-system-test-secret-0123456789';
const SECRET_HASH = hashSecret(SECRET);

/** A backup process alone, fed snapshots written by the test with its own export key. */
describe('backup snapshots (system)', function () {
  this.timeout(120_000);
  let mesh: TestMesh;
  let files: BackupFiles;
  let store: FolderBackupStore;
  let signer: ExportSigner;
  let other: ExportSigner;
  let meshToken: string;
  let revision = 100;

  const content = (count: number, createdAtMs = Date.now()) => {
    const c = syntheticContent(count, revision, createdAtMs, Date.now() - 60_000);
    for (const i of c.identities) i.credentials[0]!.secretHash = SECRET_HASH;
    return c;
  };
  const put = async (data: Buffer, createdAtMs = Date.now()): Promise<string> => {
    revision += 1;
    const name = snapshotName(revision, createdAtMs);
    await store.put(name, data);
    return name;
  };
  const first = (c: ReturnType<typeof content>) => ({ tenantId: c.tenants[0]!.tenantId, clientId: c.identities[0]!.clientId, secret: SECRET });
  const until = async (what: string, ok: () => Promise<boolean>, ms = 8000): Promise<void> => {
    const end = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(100);
    }
  };

  before(async () => {
    mesh = new TestMesh();
    const keys = await exportKeyPair();
    signer = keys.signer;
    other = (await exportKeyPair()).signer;
    meshToken = randomBytes(32).toString('base64url');
    files = {
      dataDir: path.join(mesh.dir, 'backup'),
      storeDir: path.join(mesh.dir, 'store'),
      exportPublicKey: path.join(mesh.dir, 'export-key.pub.pem'),
      meshTokenFile: path.join(mesh.dir, 'mesh-token'),
    };
    fs.writeFileSync(files.exportPublicKey, keys.publicPem);
    fs.writeFileSync(files.meshTokenFile, meshToken);
    store = new FolderBackupStore(files.storeDir);
  });

  after(async () => {
    await mesh?.stop();
  });

  it('rejects tampered, re-signed, truncated and unsigned snapshots and keeps serving the last good one', async () => {
    const good = content(3);
    const goodName = await put(encodeSnapshot(good, signer));
    await startBackupProcess(mesh, files);
    const addr = mesh.address('backup');
    assert.equal((await backupStatusOf(addr)).snapshotName, goodName);

    const fresh = encodeSnapshot(content(3), signer);
    const flipped = Buffer.from(fresh);
    flipped[fresh.length - 5] = flipped[fresh.length - 5]! ^ 0x01;
    const lines = fresh.toString('utf8').split('\n');
    const bad: [string, Buffer][] = [
      ['one byte changed', flipped],
      ['re-signed with another key', encodeSnapshot(content(3), other)],
      ['truncated', fresh.subarray(0, Math.floor(fresh.length / 2))],
      ['unsigned', Buffer.from([lines[0], ...lines.slice(2)].join('\n'))],
    ];
    for (const [what, data] of bad) {
      const name = await put(data);
      await until(`rejection of ${what}`, async () => (await backupStatusOf(addr)).lastRejection.startsWith(name));
      const s = await backupStatusOf(addr);
      console.log(`      ${what}: ${s.lastRejection.slice(name.length + 2)}`);
      assert.equal(s.snapshotName, goodName);
      const r = await acquireDirect(addr, first(good), meshToken);
      assert.equal(r.response?.faultDomain, 'backup', r.error?.details);
    }
    const logged = mesh.procs.get('backup')!.output.filter((l) => l.includes('snapshot rejected'));
    assert.equal(logged.length, bad.length);
  });

  it('refuses backup-stale and reports NOT_SERVING when past the staleness bound', async () => {
    await mesh.kill('backup');
    const created = Date.now();
    const c = content(2, created);
    await put(encodeSnapshot(c, signer), created);
    // Same process spec, with a 2 s bound through the environment.
    await mesh.start('backup', undefined, undefined, { AUTHMESH_MAX_STALENESS: '2s' });
    const addr = mesh.address('backup');
    const ok = await acquireDirect(addr, first(c), meshToken);
    assert.equal(ok.response?.faultDomain, 'backup', ok.error?.details);
    await until('health NOT_SERVING', async () => (await healthOf(addr, 'authmesh.token.v1.TokenService')) === 'NOT_SERVING', 6000);
    assert.equal(await healthOf(addr), 'NOT_SERVING');
    const s = await backupStatusOf(addr);
    const r = await acquireDirect(addr, first(c), meshToken);
    console.log(`      stale after ${s.ageMs} ms (bound ${s.maxStalenessMs} ms): ${r.error?.details}`);
    assert.equal(r.error?.code, status.UNAVAILABLE);
    assert.equal(r.reason, 'backup-stale');
    assert.equal(s.serving, false);
  });

  it('loads a snapshot of 100,000 identities and prints the load time and memory', async () => {
    await mesh.kill('backup');
    const c = content(100_000);
    const built = performance.now();
    const data = encodeSnapshot(c, signer);
    const encodeMs = Math.round(performance.now() - built);
    const name = await put(data);
    const started = Date.now();
    await mesh.start('backup', undefined, undefined, { AUTHMESH_MAX_STALENESS: '1h' });
    const readyMs = Date.now() - started;
    const addr = mesh.address('backup');
    const s = await backupStatusOf(addr);
    assert.equal(s.snapshotName, name);
    assert.equal(s.identities, 100_000);
    const line = mesh.procs.get('backup')!.output.find((l) => l.includes('"snapshot loaded"') && l.includes(name))!;
    const logged = JSON.parse(line) as { loadMs: number; rssMb: number; heapUsedMb: number };
    const r = await acquireDirect(addr, { ...first(c), clientId: c.identities[99_999]!.clientId }, meshToken);
    assert.equal(r.response?.faultDomain, 'backup', r.error?.details);
    console.log(
      `      100,000 identities: snapshot ${(data.length / 1048576).toFixed(1)} MB (encoded in ${encodeMs} ms), verified+parsed+indexed in ${logged.loadMs} ms, ` +
        `process serving after ${readyMs} ms, backup rss=${logged.rssMb} MB heapUsed=${logged.heapUsedMb} MB, covered=${s.coveredIdentities}`,
    );
    assert.ok(logged.loadMs < 10_000);
  });

  it('refuses after a restart an older validly signed snapshot planted under a high name, and loads the next real one', async () => {
    if (mesh.procs.has('backup')) await mesh.kill('backup');
    const served = content(3);
    const servedName = await put(encodeSnapshot(served, signer));
    await startBackupProcess(mesh, files);
    await until('the current snapshot to load', async () => (await backupStatusOf(mesh.address('backup'))).snapshotName === servedName);
    await mesh.kill('backup');
    const accepted = JSON.parse(fs.readFileSync(path.join(files.dataDir, 'accepted-snapshot.json'), 'utf8')) as { revision: number };
    assert.equal(accepted.revision, served.revision);
    // Someone with write access to the store removes every snapshot and plants an old export
    // (from before revocations) under a name that sorts above everything.
    for (const name of await store.list()) await store.delete(name);
    const old = content(3);
    old.revision = accepted.revision - 50;
    const planted = snapshotName(9_999_999_999, Date.now());
    await store.put(planted, encodeSnapshot(old, signer));
    // It never turns SERVING on the planted snapshot, so the start is awaited only after a real one arrives.
    const starting = startBackupProcess(mesh, files);
    starting.catch(() => undefined);
    const addr = mesh.address('backup');
    await until('the rollback to be reported', async () => {
      const status = await backupStatusOf(addr).catch(() => undefined);
      return status?.lastRejection.startsWith(`${planted}: rolled-back`) === true;
    }, 20_000);
    const s = await backupStatusOf(addr);
    console.log(`      after restart: ${s.lastRejection}`);
    assert.equal(s.snapshotName, '');
    assert.equal(await healthOf(addr), 'NOT_SERVING');
    const refused = await acquireDirect(addr, first(old), meshToken);
    assert.equal(refused.response, undefined, 'no token from the rolled-back snapshot');

    const next = content(3);
    next.revision = accepted.revision + 1;
    const name = snapshotName(next.revision, Date.now());
    await store.put(name, encodeSnapshot(next, signer));
    await starting;
    await until('the newer snapshot to load', async () => (await backupStatusOf(addr)).snapshotName === name);
    const ok = await acquireDirect(addr, first(next), meshToken);
    assert.equal(ok.response?.faultDomain, 'backup', ok.error?.details);
  });
});
