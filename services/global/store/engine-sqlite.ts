import type Database from 'better-sqlite3';
import { storeUnavailable } from './directory-error.js';
import { openDatabase } from './open-database.js';
import type { SqlEngine, SqlTx, SqlValue } from './sql-engine.js';

const UNIQUE_CODES = new Set(['SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY']);
const UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY)/;

/**
 * SQLite through better-sqlite3, the embedded engine: one connection, one transaction at a time
 * (a queue stands in for the lock a second process would need), WAL with synchronous=FULL so a
 * transaction that returned survives a crash. Commits reach only this process's listeners.
 */
export class SqliteEngine implements SqlEngine {
  readonly name = 'sqlite';
  private readonly statements = new Map<string, Database.Statement>();
  private readonly listeners = new Set<(revision: number) => void>();
  private queue: Promise<unknown> = Promise.resolve();
  private announced: number[] = [];
  private readonly tx: SqlTx;

  private constructor(
    private readonly db: Database.Database,
    readonly location: string,
  ) {
    const stmt = (sql: string): Database.Statement => {
      let s = this.statements.get(sql);
      if (s === undefined) this.statements.set(sql, (s = this.db.prepare(sql)));
      return s;
    };
    this.tx = {
      all: <T>(sql: string, params: readonly SqlValue[] = []) => Promise.resolve(stmt(sql).all(...params) as T[]),
      get: <T>(sql: string, params: readonly SqlValue[] = []) => Promise.resolve(stmt(sql).get(...params) as T | undefined),
      run: (sql: string, params: readonly SqlValue[] = []) => Promise.resolve(stmt(sql).run(...params).changes),
    };
  }

  /** Opens or creates the database in `file` (normally `<data-dir>/directory.db`). */
  static open(file: string): SqliteEngine {
    return new SqliteEngine(openDatabase(file), file);
  }

  read<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    return this.exclusive(() => this.transaction('BEGIN', fn));
  }

  write<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      this.announced = [];
      const result = await this.transaction('BEGIN IMMEDIATE', fn);
      const revisions = this.announced;
      this.announced = [];
      for (const revision of revisions) for (const listener of this.listeners) listener(revision);
      return result;
    });
  }

  announce(_tx: SqlTx, revision: number): Promise<void> {
    this.announced.push(revision);
    return Promise.resolve();
  }

  onCommit(listener: (revision: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  isUniqueViolation(err: unknown): boolean {
    return UNIQUE_CODES.has(sqliteCode(err));
  }

  /** One process owns the file, so the lease is always its own. */
  claimLease(): Promise<boolean> {
    return Promise.resolve(true);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.queue;
    if (this.db.open) this.db.close();
  }

  private async transaction<T>(begin: string, fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    if (!this.db.open) throw storeUnavailable('the directory store is closed');
    try {
      this.db.exec(begin);
      const result = await fn(this.tx);
      this.db.exec('COMMIT');
      return result;
    } catch (err) {
      this.announced = [];
      if (this.db.open && this.db.inTransaction) this.db.exec('ROLLBACK');
      if (UNAVAILABLE_CODES.test(sqliteCode(err))) throw storeUnavailable(`the directory store cannot be written (${sqliteCode(err)})`);
      throw err;
    }
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function sqliteCode(err: unknown): string {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : '';
}
