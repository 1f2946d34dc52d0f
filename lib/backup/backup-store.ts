import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { writePrivateFile } from '../token/token-signer.js';

/**
 * Where snapshots live: a folder locally, an object store in production. Names are flat
 * (no `/`); `put` is atomic, so `get` never returns part of a snapshot.
 */
export interface BackupStore {
  /** Stores `data` under `name`; a reader sees either nothing or all of it. */
  put(name: string, data: Buffer): Promise<void>;
  /** Every complete snapshot name, in no particular order. */
  list(): Promise<string[]>;
  get(name: string): Promise<Buffer>;
  delete(name: string): Promise<void>;
}

const TEMP_PREFIX = '.tmp-';
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

function checkName(name: string): string {
  if (!SAFE_NAME.test(name)) throw new Error(`invalid snapshot name "${name}"`);
  return name;
}

/**
 * {@link BackupStore} over a local folder: write to a temp file, fsync, rename into place, fsync
 * the folder. Temp files are never listed.
 */
export class FolderBackupStore implements BackupStore {
  constructor(readonly dir: string) {}

  put(name: string, data: Buffer): Promise<void> {
    // A random temp name opened exclusively (nothing planted under a guessable name is followed),
    // fsynced and renamed; list() skips the temp prefix.
    writePrivateFile(path.join(this.dir, checkName(name)), data, TEMP_PREFIX);
    return Promise.resolve();
  }

  list(): Promise<string[]> {
    try {
      return Promise.resolve(readdirSync(this.dir).filter((n) => !n.startsWith(TEMP_PREFIX) && SAFE_NAME.test(n)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Promise.resolve([]);
      throw err;
    }
  }

  get(name: string): Promise<Buffer> {
    return Promise.resolve(readFileSync(path.join(this.dir, checkName(name))));
  }

  delete(name: string): Promise<void> {
    try {
      unlinkSync(path.join(this.dir, checkName(name)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return Promise.resolve();
  }
}
