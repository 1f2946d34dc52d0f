import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FolderBackupStore } from '../../../lib/backup/index.js';
import { writePrivateFile } from '../../../lib/token/index.js';

describe('private files', () => {
  let dir: string;
  let victim: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-private-'));
    victim = path.join(dir, 'victim.txt');
    fs.writeFileSync(victim, 'untouched');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Plants symlinks to the victim under the temp names a writer with a guessable scheme would use. */
  function plant(names: readonly string[]): void {
    for (const n of names) fs.symlinkSync(victim, path.join(dir, n));
  }

  it('writePrivateFile leaves a file planted under the old predictable temp name alone and writes mode 0600', () => {
    const file = path.join(dir, 'signing-key.pem');
    plant([`signing-key.pem.${process.pid}.tmp`]);
    writePrivateFile(file, 'SECRET KEY');
    assert.equal(fs.readFileSync(victim, 'utf8'), 'untouched');
    assert.equal(fs.readFileSync(file, 'utf8'), 'SECRET KEY');
    assert.equal(fs.lstatSync(file).isSymbolicLink(), false);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp') && !n.startsWith('signing-key.pem.')), [], 'no temp file left behind');
  });

  it('writePrivateFile replaces a wider-mode file with a 0600 one', () => {
    const file = path.join(dir, 'state.json');
    fs.writeFileSync(file, 'old', { mode: 0o644 });
    fs.chmodSync(file, 0o644);
    writePrivateFile(file, 'new');
    assert.equal(fs.readFileSync(file, 'utf8'), 'new');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  });

  it('FolderBackupStore.put leaves a file planted under the old predictable temp name alone and stores mode 0600', async () => {
    const store = new FolderBackupStore(dir);
    const name = 'snapshot-0000000000000001-0000000000000001.ndjson';
    plant([`.tmp-${name}.${process.pid}`]);
    await store.put(name, Buffer.from('snapshot bytes'));
    assert.equal(fs.readFileSync(victim, 'utf8'), 'untouched');
    assert.equal((await store.get(name)).toString(), 'snapshot bytes');
    assert.equal(fs.statSync(path.join(dir, name)).mode & 0o777, 0o600);
  });
});
