import { freePort } from './free-port.js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { PG_USER, postgresBinaries, postgresOwner } from '../../scripts/postgres-cluster.js';

export { postgresBinaries };

/** A real PostgreSQL server process on 127.0.0.1, in a temp folder, for tests. */
export interface PostgresServer {
  /** postgres://authmesh@127.0.0.1:<port>/postgres (no password: it is in `passwordFile`). */
  url: string;
  port: number;
  password: string;
  passwordFile: string;
  dataDir: string;
  process: ChildProcess;
  /** Stops the server (fast shutdown) and removes its folder. */
  stop(): Promise<void>;
  /** kill -9, as a crash. */
  kill(): Promise<void>;
}

const USER = PG_USER;
const runAs = postgresOwner;

export { freePort };

export interface StartPostgresOptions {
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
  /** Use this folder (already initialised, e.g. a standby's base backup) instead of initdb. */
  dataDir?: string;
  password?: string;
}

/** initdb into a temp folder, then start postgres on 127.0.0.1 on a free port; waits until it answers. */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresServer> {
  const bin = postgresBinaries();
  const owner = runAs();
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-pg-'));
  fs.chmodSync(base, 0o755);
  const password = opts.password ?? randomBytes(18).toString('base64url');
  const passwordFile = path.join(base, 'password');
  fs.writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  const dataDir = opts.dataDir ?? path.join(base, 'data');
  const socketDir = path.join(base, 'sock');
  fs.mkdirSync(socketDir);
  if (owner !== undefined) {
    fs.chownSync(socketDir, owner.uid, owner.gid);
    fs.chownSync(passwordFile, owner.uid, owner.gid);
  }
  const spawnOpts = owner === undefined ? {} : { uid: owner.uid, gid: owner.gid };
  if (opts.dataDir === undefined) {
    fs.mkdirSync(dataDir, { mode: 0o700 });
    if (owner !== undefined) fs.chownSync(dataDir, owner.uid, owner.gid);
    execFileSync(
      path.join(bin, 'initdb'),
      ['-D', dataDir, '-U', USER, '--pwfile', passwordFile, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync', '--no-instructions'],
      { ...spawnOpts, stdio: 'pipe', cwd: base, env: { ...process.env, LC_ALL: 'C' } },
    );
  }
  const port = await freePort();
  const settings: Record<string, string> = { listen_addresses: '127.0.0.1', unix_socket_directories: socketDir, max_connections: '100', ...opts.settings };
  const args = ['-D', dataDir, '-p', String(port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const logFile = path.join(base, 'postgres.log');
  const out = fs.openSync(logFile, 'a');
  const child = spawn(path.join(bin, 'postgres'), args, { ...spawnOpts, cwd: base, stdio: ['ignore', out, out], env: { ...process.env, LC_ALL: 'C' } });
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `postgres://${USER}@127.0.0.1:${port}/postgres`;
  await waitUntilAnswering(port, password, child, logFile);
  let gone = false;
  const cleanup = (): void => {
    if (opts.dataDir === undefined) fs.rmSync(base, { recursive: true, force: true });
  };
  return {
    url,
    port,
    password,
    passwordFile,
    dataDir,
    process: child,
    async stop() {
      if (!gone && child.exitCode === null) child.kill('SIGINT');
      gone = true;
      await exited;
      cleanup();
    },
    async kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

async function waitUntilAnswering(port: number, password: string, child: ChildProcess, logFile: string): Promise<void> {
  const until = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`postgres exited (${child.exitCode}): ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password, database: 'postgres', connectionTimeoutMillis: 1000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (Date.now() > until) throw new Error(`postgres did not answer on ${port} within 30 s: ${(err as Error).message}`, { cause: err });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A fresh, empty database on `server` for one test (so tests do not see each other's rows). */
export async function createDatabase(server: PostgresServer, name: string): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: USER, password: server.password, database: 'postgres' });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  return `postgres://${USER}@127.0.0.1:${server.port}/${name}`;
}
