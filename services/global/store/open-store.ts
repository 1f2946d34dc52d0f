import fs from 'node:fs';
import type { Clock } from '../../../lib/clock/index.js';
import type { Logger } from '../../../lib/log/index.js';
import { PostgresEngine } from './engine-postgres.js';
import { SqliteEngine } from './engine-sqlite.js';
import { SqlDirectory } from './sql-directory.js';
import type { DirectoryStore } from './store.js';

export interface OpenStoreOptions {
  /** A file path, `sqlite:<path>`, or `postgres://user@host:port[,host:port]/database`. */
  store: string;
  clock: Clock;
  log: Logger;
  /** File holding the database password (its first line). */
  passwordFile?: string;
  /** The database password itself (from the environment), when no file is given. */
  password?: string;
  poolSize?: number;
}

export const isPostgresUrl = (store: string): boolean => /^postgres(ql)?:\/\//.test(store);

/** Opens the engine `store` names: PostgreSQL for a postgres:// URL, SQLite otherwise. */
export async function openStore(opts: OpenStoreOptions): Promise<DirectoryStore> {
  if (!isPostgresUrl(opts.store)) {
    const file = opts.store.startsWith('sqlite:') ? opts.store.slice('sqlite:'.length) : opts.store;
    return new SqlDirectory(SqliteEngine.open(file), opts.clock);
  }
  const password = opts.passwordFile ? readPassword(opts.passwordFile) : opts.password || undefined;
  const engine = await PostgresEngine.open({
    url: opts.store,
    log: opts.log,
    ...(password === undefined ? {} : { password }),
    ...(opts.poolSize === undefined ? {} : { poolSize: opts.poolSize }),
  });
  return new SqlDirectory(engine, opts.clock);
}

function readPassword(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split(/\r?\n/)[0]!;
  } catch (err) {
    throw new Error(`cannot read the store password file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: err });
  }
}
