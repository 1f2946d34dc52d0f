import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../../services/global/store/open-database.js';

describe('openDatabase', () => {
  let root: string;
  let umask: number;

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-db-'));
    // The loosest umask an operator could have: every mode below comes from the code alone.
    umask = process.umask(0o000);
  });
  afterEach(() => {
    process.umask(umask);
    fs.rmSync(root, { recursive: true, force: true });
  });

  const mode = (p: string): number => fs.statSync(p).mode & 0o777;

  it('creates directory.db, its WAL and SHM files 0600 and its folder 0700 whatever the umask', () => {
    const file = path.join(root, 'data', 'directory.db');
    const db = openDatabase(file);
    try {
      db.exec('CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);');
      assert.equal(mode(path.dirname(file)), 0o700);
      assert.equal(mode(file), 0o600);
      assert.equal(mode(`${file}-wal`), 0o600);
      assert.equal(mode(`${file}-shm`), 0o600);
    } finally {
      db.close();
    }
  });

  it('narrows a database, WAL and folder left world-readable by an older build', () => {
    const dir = path.join(root, 'old');
    const file = path.join(dir, 'directory.db');
    openDatabase(file).close();
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(file, 0o644);
    fs.writeFileSync(`${file}-wal`, '', { mode: 0o644 });
    const db = openDatabase(file);
    try {
      assert.equal(mode(dir), 0o700);
      assert.equal(mode(file), 0o600);
      assert.equal(mode(`${file}-wal`), 0o600);
    } finally {
      db.close();
    }
  });
});
