import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeSnapshot, FolderBackupStore, readSnapshot, SnapshotRejected, snapshotName, newestFirst, type SnapshotRejectionCode } from '../../../lib/backup/index.js';
import { exportKeyPair, syntheticContent } from '../../support/backup-fixtures.js';

function rejects(code: SnapshotRejectionCode, fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof SnapshotRejected && err.code === code);
}

describe('backup snapshot', () => {
  it('round-trips every tenant, identity and signing key when signed with the export key', async () => {
    const { signer, verifier } = await exportKeyPair();
    const content = syntheticContent(3, 42, 1_000);
    const back = readSnapshot(encodeSnapshot(content, signer), verifier);
    assert.deepEqual(back, content);
  });

  it('is rejected when any single byte is changed', async () => {
    const { signer, verifier } = await exportKeyPair();
    const data = encodeSnapshot(syntheticContent(2, 1, 1_000), signer);
    const headerEnd = data.indexOf(0x0a);
    for (const at of [5, headerEnd + 40, data.length - 10]) {
      const copy = Buffer.from(data);
      copy[at] = copy[at]! ^ 0x01;
      assert.throws(() => readSnapshot(copy, verifier), SnapshotRejected, `byte ${at}`);
    }
  });

  it('is rejected as unknown-key or bad-signature when re-signed with another key', async () => {
    const { verifier } = await exportKeyPair();
    const other = await exportKeyPair();
    const data = encodeSnapshot(syntheticContent(2, 1, 1_000), other.signer);
    rejects('unknown-key', () => readSnapshot(data, verifier));
    // Same kid claimed, wrong signature.
    const forged = data.toString('utf8').replace(other.signer.kid, verifier.kid);
    rejects('bad-signature', () => readSnapshot(Buffer.from(forged), verifier));
  });

  it('is rejected as truncated when cut short', async () => {
    const { signer, verifier } = await exportKeyPair();
    const data = encodeSnapshot(syntheticContent(5, 1, 1_000), signer);
    rejects('truncated', () => readSnapshot(data.subarray(0, data.length - 20), verifier));
    rejects('truncated', () => readSnapshot(data.subarray(0, 30), verifier));
  });

  it('is rejected as unsigned when the signature line is missing', async () => {
    const { signer, verifier } = await exportKeyPair();
    const data = encodeSnapshot(syntheticContent(1, 1, 1_000), signer);
    const lines = data.toString('utf8').split('\n');
    const unsigned = [lines[0], ...lines.slice(2)].join('\n');
    rejects('unsigned', () => readSnapshot(Buffer.from(unsigned), verifier));
  });

  it('lists complete snapshots newest first and never a temp file when stored in a folder', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-store-'));
    try {
      const store = new FolderBackupStore(dir);
      await store.put(snapshotName(2, 200), Buffer.from('b'));
      await store.put(snapshotName(10, 100), Buffer.from('a'));
      fs.writeFileSync(path.join(dir, '.tmp-half'), 'x');
      assert.deepEqual(newestFirst(await store.list()), [snapshotName(10, 100), snapshotName(2, 200)]);
      await store.delete(snapshotName(2, 200));
      assert.deepEqual(await store.list(), [snapshotName(10, 100)]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
