import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeSnapshot, FolderBackupStore, snapshotName, type ExportSigner, type ExportVerifier } from '../../../lib/backup/index.js';
import { ManualClock } from '../../../lib/clock/index.js';
import { createLogger } from '../../../lib/log/index.js';
import { AcceptedSnapshotFile } from '../../../services/backup/accepted-snapshot.js';
import { SnapshotLoader } from '../../../services/backup/snapshot-loader.js';
import { BackupExporter } from '../../../services/global/backup-exporter.js';
import type { DirectoryStore } from '../../../services/global/store/store.js';
import { exportKeyPair, syntheticContent } from '../../support/backup-fixtures.js';

/** A name that sorts above every real one. */
const HIGH = snapshotName(9_999_999_999, 9_999_999_999_999);

describe('SnapshotLoader', () => {
  let dir: string;
  let store: FolderBackupStore;
  let signer: ExportSigner;
  let verifier: ExportVerifier;
  let clock: ManualClock;
  let acceptedFile: string;
  let rejections: string[];

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-loader-'));
    store = new FolderBackupStore(path.join(dir, 'store'));
    ({ signer, verifier } = await exportKeyPair());
    clock = new ManualClock();
    acceptedFile = path.join(dir, 'backup', 'accepted-snapshot.json');
    rejections = [];
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const loader = (): SnapshotLoader => {
    const l = new SnapshotLoader({ store, verifier, clock, accepted: new AcceptedSnapshotFile(acceptedFile) });
    l.on('rejected', (name, code) => rejections.push(`${name}: ${code}`));
    return l;
  };
  /** A validly signed snapshot of `revision`, stored under its own name or under `name`. */
  const put = async (revision: number, name?: string, count = 2): Promise<string> => {
    const createdAtMs = 1_000_000 + revision;
    const stored = name ?? snapshotName(revision, createdAtMs);
    await store.put(stored, encodeSnapshot(syntheticContent(count, revision, createdAtMs), signer));
    return stored;
  };

  it('refuses a validly signed older snapshot stored under a higher name and keeps the newer one', async () => {
    const newer = await put(10, undefined, 3);
    await put(5, HIGH, 1); // an old export, e.g. from before a revocation, renamed to sort first
    const l = loader();
    await l.check();
    assert.equal(l.snapshot()?.name, newer);
    assert.equal(l.snapshot()?.revision, 10);
    assert.equal(l.snapshot()?.identities.size, 3);
    assert.deepEqual(rejections, [`${HIGH}: rolled-back`]);
    // It stays refused, and real exports keep loading after it.
    const next = await put(11);
    await l.check();
    assert.equal(l.snapshot()?.name, next);
    assert.deepEqual(rejections, [`${HIGH}: rolled-back`]);
  });

  it('keeps loading newer snapshots when a garbage file is planted under a high name', async () => {
    await put(10);
    await store.put(HIGH, Buffer.from('{"format":"authmesh-backup"}\nnot a signature\n'));
    const l = loader();
    await l.check();
    assert.equal(l.snapshot()?.revision, 10);
    for (const revision of [11, 12]) {
      const name = await put(revision);
      await l.check();
      assert.equal(l.snapshot()?.name, name);
    }
    assert.deepEqual(rejections, [`${HIGH}: unsigned`], 'the garbage is reported once and never retried');
  });

  it('still refuses a snapshot older than the highest accepted revision after a restart, even when it is the only one', async () => {
    const old = await put(5);
    const newer = await put(10);
    const first = loader();
    await first.check();
    assert.equal(first.snapshot()?.revision, 10);
    assert.equal(fs.statSync(acceptedFile).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(fs.readFileSync(acceptedFile, 'utf8')), { revision: 10, createdAtMs: 1_000_010 });

    // The newer snapshot disappears; a fresh process finds only the old one.
    await store.delete(newer);
    const restarted = loader();
    assert.deepEqual(restarted.acceptedPosition(), { revision: 10, createdAtMs: 1_000_010 });
    await restarted.check();
    assert.equal(restarted.snapshot(), undefined, 'nothing is served rather than a rollback');
    assert.deepEqual(rejections, [`${old}: rolled-back`]);
    assert.match(restarted.lastRejected(), /signed revision 5 .* older than the accepted revision 10/);

    // The same revision loads again after a restart, and anything newer does.
    const again = await put(10);
    await restarted.check();
    assert.equal(restarted.snapshot()?.name, again);
    const newest = await put(12);
    await restarted.check();
    assert.equal(restarted.snapshot()?.name, newest);
    assert.equal(JSON.parse(fs.readFileSync(acceptedFile, 'utf8')).revision, 12);
  });
});

describe('BackupExporter pruning', () => {
  it('keeps the newest snapshots by signed header and removes a planted file, whatever its name', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-prune-'));
    try {
      const store = new FolderBackupStore(dir);
      const { signer } = await exportKeyPair();
      let revision = 20;
      const directory = { exportState: () => Promise.resolve({ ...syntheticContent(1, revision, 0), createdAtMs: undefined }) } as unknown as DirectoryStore;
      const exporter = new BackupExporter({ store: directory, backupStore: store, signer, clock: new ManualClock(), log: createLogger('test', 'silent'), keep: 2, intervalMs: 0 });
      await store.put(HIGH, Buffer.from('garbage under the highest name'));
      const oldHigh = snapshotName(9_999_999_998, 1);
      await store.put(oldHigh, encodeSnapshot(syntheticContent(1, 3, 1), signer));
      const names: string[] = [];
      for (const r of [21, 22, 23]) {
        revision = r;
        names.push((await exporter.exportNow()).name);
      }
      assert.deepEqual((await store.list()).sort(), [names[1], names[2]].sort());
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
