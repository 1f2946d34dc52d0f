/** A value bound to a `?` placeholder; booleans are stored as 0/1 by the caller. */
export type SqlValue = string | number | null;

/** Statements inside one transaction. SQL is written once with `?` placeholders for every engine. */
export interface SqlTx {
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** Runs a statement; resolves with the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

/**
 * What an engine gives the shared directory rules: transactions, error mapping and the commit
 * feed. `write` resolves only once the transaction is durable; a write that failed with a
 * connection error or an unknown commit outcome rejects with a `storeUnavailable` error.
 */
export interface SqlEngine {
  readonly name: string;
  readonly location: string;
  /** A read-only transaction at one point in time. */
  read<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T>;
  /** A write transaction, serialized with every other writer on the store. */
  write<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T>;
  /** Tells every instance on the store (this one included, after commit) that `revision` committed. */
  announce(tx: SqlTx, revision: number): Promise<void>;
  /** Called with the revision of a commit, or 0 for "something may have changed, re-read". */
  onCommit(listener: (revision: number) => void): () => void;
  /** True when the error is a unique or primary key violation. */
  isUniqueViolation(err: unknown): boolean;
  /** `now()` on the database's clock in ms (leases use it so instances' clocks do not matter). */
  claimLease(name: string, holder: string, ttlMs: number): Promise<boolean>;
  close(): Promise<void>;
}
