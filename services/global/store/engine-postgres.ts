import pg from 'pg';
import type { Logger } from '../../../lib/log/index.js';
import { isDirectoryError, storeUnavailable } from './directory-error.js';
import { POSTGRES_MIGRATIONS } from './postgres-schema.js';
import type { SqlEngine, SqlTx, SqlValue } from './sql-engine.js';

export interface PostgresOptions {
  /** `postgres://user@host:port[,host:port...]/database`; several hosts: the one not in recovery is used. */
  url: string;
  /** Overrides a password in the URL; read from a file or the environment, never logged. */
  password?: string;
  /** Connections per instance (default 10). */
  poolSize?: number;
  log: Logger;
  /** Longest wait for a connection before the call fails UNAVAILABLE (default 3 s). */
  connectTimeoutMs?: number;
}

const CHANNEL = 'authmesh_commit';
/** Arbitrary constant: the advisory lock migrations run under. */
const MIGRATION_LOCK = 4_711_019;
/** SQLSTATE classes and codes that mean "the database is not there for this call": retry. */
const UNAVAILABLE_STATE = /^(08|53|57P|40001|40P01|25006|58)/;

interface Target {
  host: string;
  port: number;
}

/**
 * PostgreSQL through a `pg` pool. Writers serialize on the revision counter row; a write resolves
 * once COMMIT returns (with a synchronous standby configured, once the standby has it). A lost
 * connection, a refused connection or a COMMIT whose outcome is unknown rejects UNAVAILABLE.
 * Each write transaction calls pg_notify, delivered on commit to the LISTEN connection of every
 * instance; after that connection is re-established every listener is woken once to re-read.
 */
export class PostgresEngine implements SqlEngine {
  readonly name = 'postgres';
  readonly location: string;
  private readonly targets: Target[];
  private readonly base: pg.PoolConfig;
  private current = 0;
  private pool: pg.Pool;
  private listenClient: pg.Client | undefined;
  private readonly listeners = new Set<(revision: number) => void>();
  private readonly sqlCache = new Map<string, string>();
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private switching: Promise<void> | undefined;

  private constructor(private readonly opts: PostgresOptions) {
    const parsed = parseUrl(opts.url);
    this.targets = parsed.targets;
    this.location = parsed.redacted;
    this.base = {
      user: parsed.user,
      database: parsed.database,
      ...(opts.password !== undefined ? { password: opts.password } : parsed.password !== undefined ? { password: parsed.password } : {}),
      max: opts.poolSize ?? 10,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 3000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'authmesh-global',
      types: { getTypeParser: typeParser } as pg.CustomTypesConfig,
    };
    this.pool = this.newPool();
  }

  /** Connects, runs the migrations once, and starts listening for commits. */
  static async open(opts: PostgresOptions): Promise<PostgresEngine> {
    const engine = new PostgresEngine(opts);
    try {
      await engine.findPrimary();
      await engine.migrate();
      await engine.listen();
      return engine;
    } catch (err) {
      await engine.close();
      if (isDirectoryError(err)) throw err;
      throw new Error(`cannot open the directory database ${engine.location}: ${describeError(err)}`, { cause: err });
    }
  }

  read<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    return this.transaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', fn);
  }

  async write<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T> {
    const announced: number[] = [];
    const result = await this.transaction('BEGIN', fn, announced);
    for (const revision of announced) for (const listener of this.listeners) listener(revision);
    return result;
  }

  async announce(tx: SqlTx, revision: number): Promise<void> {
    await tx.run('SELECT pg_notify(?, ?)', [CHANNEL, String(revision)]);
    (tx as AnnouncingTx).announced?.push(revision);
  }

  onCommit(listener: (revision: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  isUniqueViolation(err: unknown): boolean {
    return err instanceof pg.DatabaseError && err.code === '23505';
  }

  claimLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return this.transaction('BEGIN', async (tx) => {
      const row = await tx.get<{ holder: string }>(
        `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, now() + make_interval(secs => CAST(? AS double precision) / 1000))
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE leases.expires_at < now() OR leases.holder = excluded.holder
         RETURNING holder`,
        [name, holder, ttlMs],
      );
      return row?.holder === holder;
    });
  }

  /** Which configured node is in use and whether it is a primary (for status). */
  async describe(): Promise<{ target: string; primary: boolean }> {
    const t = this.targets[this.current]!;
    const row = await this.transaction('BEGIN READ ONLY', (tx) => tx.get<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery'));
    return { target: `${t.host}:${t.port}`, primary: row?.recovery === false };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    const client = this.listenClient;
    this.listenClient = undefined;
    await Promise.allSettled([client?.end(), this.pool.end()]);
  }

  // ---- internals -------------------------------------------------------------------------

  private newPool(): pg.Pool {
    const t = this.targets[this.current]!;
    const pool = new pg.Pool({ ...this.base, host: t.host, port: t.port });
    // An idle connection that dies is dropped by the pool; the next call opens a new one.
    pool.on('error', (err) => this.opts.log.warn({ err: describeError(err), store: this.location }, 'idle database connection lost'));
    return pool;
  }

  private async transaction<T>(begin: string, fn: (tx: SqlTx) => Promise<T>, announced?: number[]): Promise<T> {
    if (this.closed) throw storeUnavailable('the directory store is closed');
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      this.lostPrimary();
      throw unavailable(err, 'cannot reach the directory database');
    }
    let broken: unknown;
    // A checked-out connection that dies between statements reports it here, not as a crash.
    const onError = (err: unknown): void => {
      broken ??= err;
    };
    client.on('error', onError);
    const query = async (sql: string, params: readonly SqlValue[] = []): Promise<pg.QueryResult> => {
      try {
        return await client.query(this.positional(sql), params as SqlValue[]);
      } catch (err) {
        if (isConnectionFailure(err)) broken = err;
        throw err;
      }
    };
    const tx: AnnouncingTx = {
      all: async <R>(sql: string, params?: readonly SqlValue[]) => (await query(sql, params)).rows as R[],
      get: async <R>(sql: string, params?: readonly SqlValue[]) => (await query(sql, params)).rows[0] as R | undefined,
      run: async (sql: string, params?: readonly SqlValue[]) => (await query(sql, params)).rowCount ?? 0,
      ...(announced === undefined ? {} : { announced }),
    };
    let committing = false;
    try {
      await query(begin);
      const result = await fn(tx);
      committing = true;
      await query('COMMIT');
      return result;
    } catch (err) {
      if (announced !== undefined) announced.length = 0;
      if (broken === undefined && !committing) await client.query('ROLLBACK').catch((e: unknown) => (broken = e));
      if (broken !== undefined || isConnectionFailure(err)) {
        broken ??= err;
        this.lostPrimary();
        throw unavailable(err, committing ? 'the outcome of the write is unknown: the database connection was lost at commit' : 'the directory database connection was lost');
      }
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken === undefined ? undefined : (broken as Error));
    }
  }

  /** `?` placeholders to `$n` (the shared SQL has no `?` inside literals). */
  private positional(sql: string): string {
    let out = this.sqlCache.get(sql);
    if (out === undefined) {
      let n = 0;
      out = sql.replace(/\?/g, () => `$${++n}`);
      this.sqlCache.set(sql, out);
    }
    return out;
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    const onError = (): void => undefined;
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
      const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
      const current = rows[0]?.v ?? 0;
      if (current > POSTGRES_MIGRATIONS.length) {
        throw new Error(`directory schema version ${current} is newer than this build knows (${POSTGRES_MIGRATIONS.length})`);
      }
      for (let version = current; version < POSTGRES_MIGRATIONS.length; version += 1) {
        await client.query(POSTGRES_MIGRATIONS[version]!);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version + 1]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.off('error', onError);
      client.release();
    }
  }

  /** One connection per instance that LISTENs for commits; reconnects on its own. */
  private async listen(): Promise<void> {
    const t = this.targets[this.current]!;
    const client = new pg.Client({ ...this.base, host: t.host, port: t.port });
    client.on('notification', (msg) => {
      const revision = Number(msg.payload);
      for (const listener of this.listeners) listener(Number.isFinite(revision) ? revision : 0);
    });
    const lost = (err?: unknown): void => {
      if (this.listenClient !== client) return;
      this.listenClient = undefined;
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.opts.log.warn({ err: err === undefined ? undefined : describeError(err), store: this.location }, 'commit feed connection lost; reconnecting');
      this.lostPrimary();
      this.scheduleListen(100);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    if (this.closed) {
      await client.end();
      return;
    }
    this.listenClient = client;
  }

  private scheduleListen(delayMs: number): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.listen().then(
        // Commits made while the feed was down were not announced here: every watcher re-reads.
        () => {
          if (this.closed) return;
          this.opts.log.info({ store: this.location }, 'commit feed connection re-established');
          for (const listener of this.listeners) listener(0);
        },
        () => this.scheduleListen(Math.min(delayMs * 2, 2000)),
      );
    }, delayMs);
    this.reconnectTimer.unref();
  }

  /** With several hosts configured, looks for the primary again (once at a time). */
  private lostPrimary(): void {
    if (this.targets.length < 2 || this.closed || this.switching !== undefined) return;
    this.switching = this.findPrimary()
      .catch(() => undefined)
      .finally(() => (this.switching = undefined));
  }

  /** Picks the first configured node that accepts connections and is not in recovery. */
  private async findPrimary(): Promise<void> {
    if (this.targets.length < 2) return;
    for (let i = 0; i < this.targets.length; i += 1) {
      const t = this.targets[i]!;
      const probe = new pg.Client({ ...this.base, host: t.host, port: t.port });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        const { rows } = await probe.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
        if (rows[0]?.recovery === false) {
          if (i !== this.current) {
            const old = this.pool;
            this.current = i;
            this.pool = this.newPool();
            old.end().catch(() => undefined);
            this.opts.log.warn({ primary: `${t.host}:${t.port}` }, 'directory database primary changed');
            const feed = this.listenClient;
            if (feed !== undefined) feed.emit('error', new Error('primary changed'));
          }
          return;
        }
      } catch {
        // Not reachable: try the next one.
      } finally {
        await probe.end().catch(() => undefined);
      }
    }
    throw storeUnavailable('no directory database node is a reachable primary');
  }
}

interface AnnouncingTx extends SqlTx {
  announced?: number[];
}

/** BIGINT columns as numbers (every value here is far below 2^53). */
function typeParser(oid: number, format?: string): (value: string) => unknown {
  if (oid === 20) return (value: string) => Number(value);
  return pg.types.getTypeParser(oid, format as 'text') as (value: string) => unknown;
}

function isConnectionFailure(err: unknown): boolean {
  if (isDirectoryError(err)) return false;
  if (err instanceof pg.DatabaseError) return UNAVAILABLE_STATE.test(err.code ?? '');
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true;
  return /connection|terminated|timeout|not queryable|closed/i.test(err.message);
}

function unavailable(err: unknown, message: string): Error {
  if (isDirectoryError(err)) return err;
  const failure = storeUnavailable(`${message} (${describeError(err)})`);
  return failure;
}

/** An error's code and message: never the connection string or the password. */
function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
}

function parseUrl(url: string): { targets: Target[]; user: string; password: string | undefined; database: string; redacted: string } {
  const m = /^postgres(?:ql)?:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?]+)(?:\/([^?]*))?(?:\?.*)?$/.exec(url);
  if (m === null) throw new Error('the store URL must look like postgres://user@host:port[,host:port]/database');
  const user = decodeURIComponent(m[1] ?? '') || 'postgres';
  const password = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
  const database = decodeURIComponent(m[4] ?? '') || user;
  const targets = m[3]!.split(',').map((hp) => {
    const hm = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hp);
    if (hm === null) throw new Error(`bad host in the store URL: ${hp}`);
    return { host: hm[1]!.replace(/^\[|\]$/g, ''), port: Number(hm[2] ?? 5432) };
  });
  return { targets, user, password, database, redacted: `postgres://${encodeURIComponent(user)}@${m[3]}/${encodeURIComponent(database)}` };
}
