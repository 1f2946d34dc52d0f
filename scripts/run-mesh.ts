import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { loadMeshTls, meshChannelCredentials, waitForServing, writeMemberTokenFile } from '../lib/grpc/index.js';
import { exportBackup, initBackup } from '../cli/backup-commands.js';
import { TRACES_FILE } from '../cli/traces-command.js';
import { SERVICE_NODE_FLAGS } from '../lib/runtime/node-flags.js';
import { METRICS_PORT_OFFSET, startOtlpReceiver } from '../lib/telemetry/index.js';
import { createMeshCa, loadOrIssueMeshCert, type MeshCertFiles } from '../lib/tls/index.js';
import { prometheusBinary, startPrometheus } from './mesh-prometheus.js';
import { seedDemo, tokenCommand, type DemoSeed } from './mesh-seed.js';
import { initPrimary, initStandby, loadOrCreatePassword, PG_USER, promote, STANDBY_NAME, startNode, waitForNode, type PgNode } from './postgres-cluster.js';

/** One process of the local mesh. */
interface MeshProcess {
  name: string;
  /** Entry point relative to dist/. */
  entry: string;
  listen: string;
  args: string[];
}

const MESH_DIR = path.resolve(process.env.AUTHMESH_MESH_DIR ?? '.mesh');
const RUN_DIR = path.join(MESH_DIR, 'run');
const DIST = path.resolve(__dirname, '..');
const GLOBAL = '127.0.0.1:50051';
const GLOBAL_DIR = path.join(MESH_DIR, 'global');
/** Held by gateways (and checked by the backup) for TokenService; it has no directory rights. */
const MESH_TOKEN = path.join(GLOBAL_DIR, 'mesh-token');
/** A regional's development credential for DirectoryService, bound to its member name (written once global has started). */
const memberTokenPath = (member: string): string => path.join(GLOBAL_DIR, 'members', member);
/**
 * `make run-mesh STORE=postgres`: a PostgreSQL primary with a synchronous standby, two global
 * instances on it (global-1, global-2), and the rest of the mesh pointed at both. Otherwise one
 * global on SQLite in its data dir.
 */
const STORE_MODE = process.env.AUTHMESH_MESH_STORE ?? '';
if (STORE_MODE !== '' && STORE_MODE !== 'sqlite' && STORE_MODE !== 'postgres') {
  throw new Error(`STORE must be sqlite or postgres, got "${STORE_MODE}"`);
}
const POSTGRES = STORE_MODE === 'postgres';
const GLOBAL_2 = '127.0.0.1:50052';
/** What regional, gateway and the backup set-up are told: every global instance. */
const GLOBALS = POSTGRES ? `${GLOBAL},${GLOBAL_2}` : GLOBAL;
const PG_DIR = path.join(MESH_DIR, 'pg');
const PG_NODES: PgNode[] = [
  { name: 'node-a', dir: path.join(PG_DIR, 'node-a'), port: 55432 },
  { name: 'node-b', dir: path.join(PG_DIR, 'node-b'), port: 55433 },
];
const PG_PASSWORD_FILE = path.join(PG_DIR, 'password');
const PG_STATE = path.join(PG_DIR, 'state.json');
const STORE_URL = `postgres://${PG_USER}@${PG_NODES.map((n) => `127.0.0.1:${n.port}`).join(',')}/postgres`;
const BACKUP = '127.0.0.1:50071';
const BACKUP_DIR = path.join(MESH_DIR, 'backup');
/** Loaded with --require before every process, so each one starts its telemetry first. */
const TELEMETRY = path.join(DIST, 'lib', 'telemetry', 'register.js');
/** Where spans go: Jaeger from `make jaeger`, or else the built-in receiver started below. */
const OTLP_ENDPOINT = process.env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://127.0.0.1:4318';
const TRACES = path.join(MESH_DIR, TRACES_FILE);

const REGIONS = [
  { region: 'eastus', gateway: '127.0.0.1:50050', regional: '127.0.0.1:50061', https: '127.0.0.1:50443' },
  { region: 'westus', gateway: '127.0.0.1:50150', regional: '127.0.0.1:50161', https: '127.0.0.1:50543' },
];

const GLOBAL_PROCESS: MeshProcess = {
  name: POSTGRES ? 'global-1' : 'global',
  entry: 'services/global/main.js',
  listen: GLOBAL,
  args: ['--listen', GLOBAL, '--data-dir', path.join(MESH_DIR, 'global'),
    ...(POSTGRES ? ['--instance', 'global-1', '--store', STORE_URL, '--store-password-file', PG_PASSWORD_FILE] : [])],
};

/** The second global instance (PostgreSQL only): same data dir, its own signing key. */
const GLOBAL_2_PROCESS: MeshProcess = {
  name: 'global-2',
  entry: 'services/global/main.js',
  listen: GLOBAL_2,
  args: ['--listen', GLOBAL_2, '--data-dir', path.join(MESH_DIR, 'global'), '--instance', 'global-2', '--store', STORE_URL, '--store-password-file', PG_PASSWORD_FILE],
};

const REGIONAL_PROCESSES: MeshProcess[] = REGIONS.map((r) => ({
  name: `regional-${r.region}`,
  entry: 'services/regional/main.js',
  listen: r.regional,
  args: ['--region', r.region, '--listen', r.regional, '--global', GLOBALS, '--mesh-token-file', memberTokenPath(`regional-${r.region}`), '--data-dir', path.join(MESH_DIR, `regional-${r.region}`)],
}));

const GATEWAY_PROCESSES: MeshProcess[] = REGIONS.map((r) => ({
  name: `gateway-${r.region}`,
  entry: 'gateway/main.js',
  listen: r.gateway,
  args: ['--region', r.region, '--listen', r.gateway, '--regional', r.regional, '--global', GLOBALS,
    '--http-listen', r.https, '--data-dir', path.join(MESH_DIR, `gateway-${r.region}`), '--backup', BACKUP, '--backup-token-file', MESH_TOKEN],
}));

/** The backup reads only global's backup store; it is told nothing about global or regional. */
const BACKUP_PROCESS: MeshProcess = {
  name: 'backup',
  entry: 'services/backup/main.js',
  listen: BACKUP,
  args: ['--listen', BACKUP, '--data-dir', BACKUP_DIR, '--store-dir', path.join(MESH_DIR, 'global', 'backups'),
    '--export-public-key', path.join(MESH_DIR, 'global', 'export-key.pub.pem'), '--mesh-token-file', MESH_TOKEN],
};

/**
 * Mutual TLS on every internal hop: the mesh CA in .mesh/ca (created on first start) issues a
 * certificate per process, plus `admin` for this script and the CLI. Gateways keep their public
 * gRPC port in plaintext; their HTTPS front has its own certificate.
 */
const CA_DIR = path.join(MESH_DIR, 'ca');
const MESH_TLS_SERVERS = new Set(['global', 'global-1', 'global-2', 'backup', ...REGIONS.map((r) => `regional-${r.region}`)]);

/** Each name's certificate files and client credentials, read or issued once per start. */
const meshFiles = new Map<string, MeshCertFiles>();
const meshChannels = new Map<string, ChannelCredentials>();
let meshCa: ReturnType<typeof createMeshCa> | undefined;

function meshCertFiles(name: string): MeshCertFiles {
  let files = meshFiles.get(name);
  if (files === undefined) {
    meshCa ??= createMeshCa(CA_DIR);
    files = loadOrIssueMeshCert(CA_DIR, meshCa, name);
    meshFiles.set(name, files);
  }
  return files;
}

function meshTlsArgs(name: string): string[] {
  // Every global instance is `global` to the rest of the mesh.
  const files = meshCertFiles(name.startsWith('global-') ? 'global' : name);
  return ['--mesh-ca', files.ca, '--mesh-cert', files.cert, '--mesh-key', files.key];
}

function meshCredentials(name: string): ChannelCredentials {
  let creds = meshChannels.get(name);
  if (creds === undefined) {
    creds = meshChannelCredentials(loadMeshTls(meshCertFiles(name)));
    meshChannels.set(name, creds);
  }
  return creds;
}

/** Setup of the backup: its signing key registered with global, then a first snapshot to serve. */
async function setUpBackup(): Promise<void> {
  const init = await initBackup({ dataDir: BACKUP_DIR, global: GLOBALS, meshToken: readFileSync(writeMemberTokenFile(GLOBAL_DIR, 'backup'), 'utf8').trim(), channelCredentials: meshCredentials('backup') });
  const exported = await exportBackup(GLOBAL, readFileSync(path.join(MESH_DIR, 'global', 'admin-token'), 'utf8').trim(), meshCredentials('admin'));
  say(`backup key ${init.kid} registered; snapshot ${exported.snapshotName} at revision ${exported.revision}`);
}

const STORAGE = '127.0.0.1:50091';

/** The sample resource and a demo workload calling it every second as the seeded demo identity. */
const exampleProcesses = (seed: DemoSeed): MeshProcess[] => [
  {
    name: 'storage',
    entry: 'examples/storage/main.js',
    listen: STORAGE,
    args: ['--listen', STORAGE, '--tenant', seed.tenantId, '--gateways', REGIONS.map((r) => r.gateway).join(',')],
  },
  {
    name: 'demo-workload',
    entry: 'examples/demo-workload/main.js',
    listen: '-',
    args: ['--seed', path.join(MESH_DIR, 'demo', 'seed.json'), '--gateways', REGIONS.map((r) => r.gateway).join(','), '--storage', STORAGE],
  },
];

const children = new Map<string, ChildProcess>();
let stopping = false;

const say = (line: string): void => {
  process.stdout.write(`[mesh] ${line}\n`);
};

function pidFile(name: string): string {
  return path.join(RUN_DIR, `${name}.pid`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Refuses to start over a mesh that is still running from this folder. */
function checkNotRunning(all: MeshProcess[]): void {
  for (const p of all) {
    const file = pidFile(p.name);
    if (!existsSync(file)) continue;
    const pid = Number(readFileSync(file, 'utf8'));
    if (Number.isInteger(pid) && pid > 0 && isRunning(pid)) {
      throw new Error(`${p.name} is already running (pid ${pid}, ${file}); stop that mesh first`);
    }
    unlinkSync(file);
  }
}

function start(p: MeshProcess): ChildProcess {
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, '--require', TELEMETRY, path.join(DIST, p.entry), ...p.args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, OTEL_SERVICE_NAME: `authmesh-${p.name}`, OTEL_EXPORTER_OTLP_ENDPOINT: OTLP_ENDPOINT },
  });
  const prefix = `[${p.name}] `;
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${prefix}${line}\n`));
  }
  return track(p.name, child);
}

/** Keeps a pid file for `child` under `name` while it runs. */
function track(name: string, child: ChildProcess, onExit?: () => void): ChildProcess {
  writeFileSync(pidFile(name), `${child.pid}\n`);
  children.set(name, child);
  child.once('exit', (code, signal) => {
    if (children.get(name) === child) {
      children.delete(name);
      if (existsSync(pidFile(name))) unlinkSync(pidFile(name));
    }
    if (!stopping) say(`${name} exited (${signal ?? `code ${code}`}); the rest of the mesh keeps running`);
    if (!stopping) onExit?.();
  });
  return child;
}

/**
 * The PostgreSQL pair: the primary from the last run (initdb the first time), a standby made
 * fresh from it while it is stopped, then both started; commits wait for the standby. When the
 * primary's process dies, the standby is promoted and global instances find it by themselves.
 */
let pairUp = false;

async function startPostgresPair(): Promise<void> {
  mkdirSync(PG_DIR, { recursive: true, mode: 0o755 });
  const password = loadOrCreatePassword(PG_PASSWORD_FILE);
  const state = existsSync(PG_STATE) ? (JSON.parse(readFileSync(PG_STATE, 'utf8')) as { primary: string }) : { primary: 'node-a' };
  const primary = PG_NODES.find((n) => n.name === state.primary) ?? PG_NODES[0]!;
  const standby = PG_NODES.find((n) => n !== primary)!;
  initPrimary(primary, PG_PASSWORD_FILE);
  initStandby(standby, primary, password);
  writeFileSync(PG_STATE, JSON.stringify({ primary: primary.name }));
  const standbyChild = track('postgres-standby', startNode(standby, path.join(PG_DIR, `${standby.name}.log`)));
  track(
    'postgres-primary',
    startNode(primary, path.join(PG_DIR, `${primary.name}.log`), STANDBY_NAME),
    () => {
      if (pairUp) void promoteStandby(standby, standbyChild, password);
    },
  );
  await waitForNode(primary, password, true);
  await waitForNode(standby, password, false);
  pairUp = true;
  say(`postgres primary ${primary.name} 127.0.0.1:${primary.port}, synchronous standby ${standby.name} 127.0.0.1:${standby.port} (logs in ${PG_DIR})`);
}

async function promoteStandby(standby: PgNode, child: ChildProcess, password: string): Promise<void> {
  const started = Date.now();
  try {
    await promote(standby, password);
    writeFileSync(PG_STATE, JSON.stringify({ primary: standby.name }));
    // The promoted node is the primary now; no standby runs until the next start.
    children.delete('postgres-standby');
    if (existsSync(pidFile('postgres-standby'))) unlinkSync(pidFile('postgres-standby'));
    track('postgres-primary', child);
    say(`standby ${standby.name} promoted to primary in ${Date.now() - started} ms; global instances reconnect to it`);
  } catch (err) {
    say(`promoting ${standby.name} failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function waitServing(p: MeshProcess, timeoutMs = 30_000): Promise<void> {
  await waitForServing(p.listen, {
    timeoutMs,
    channelCredentials: MESH_TLS_SERVERS.has(p.name) ? meshCredentials('admin') : credentials.createInsecure(),
    stillStarting: () => {
      if (!children.has(p.name)) throw new Error(`${p.name} exited during start-up`);
    },
  });
}

async function stopAll(): Promise<void> {
  stopping = true;
  const waits = [...children.entries()].map(
    ([name, child]) =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        try {
          process.kill(child.pid!, 'SIGCONT');
          // PostgreSQL: fast shutdown (SIGTERM would wait for every client to leave).
          process.kill(child.pid!, name.startsWith('postgres-') ? 'SIGINT' : 'SIGTERM');
        } catch {
          resolve();
        }
        setTimeout(() => {
          if (children.has(name)) child.kill('SIGKILL');
        }, 5000).unref();
      }),
  );
  await Promise.all(waits);
}

/** The Prometheus endpoint a process serves by default (its gRPC port minus 40600). */
function metricsAddress(listen: string): string {
  const at = listen.lastIndexOf(':');
  return `${listen.slice(0, at)}:${Number(listen.slice(at + 1)) - METRICS_PORT_OFFSET}`;
}

/**
 * Without a collector on 127.0.0.1:4318 (Jaeger from `make jaeger`), a tiny OTLP/HTTP receiver
 * takes the spans and keeps the last traces in .mesh/traces for `npx authmesh traces`.
 */
async function startTraceReceiver(): Promise<void> {
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined) {
    say(`spans go to ${OTLP_ENDPOINT} (OTEL_EXPORTER_OTLP_ENDPOINT)`);
    return;
  }
  try {
    await startOtlpReceiver({ listen: '127.0.0.1:4318', file: TRACES, maxTraces: 200 });
    say('built-in OTLP receiver on 127.0.0.1:4318 keeps the last 200 traces: `npx authmesh traces` prints the failovers');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    say('a collector already listens on 127.0.0.1:4318 (Jaeger from `make jaeger`?): spans go there, e.g. http://127.0.0.1:16686');
  }
}

/** 127.0.0.1 port of the mesh's Prometheus (AUTHMESH_PROMETHEUS_PORT, default 9090). */
const PROMETHEUS_PORT = Number(process.env.AUTHMESH_PROMETHEUS_PORT ?? 9090);
if (!Number.isInteger(PROMETHEUS_PORT) || PROMETHEUS_PORT < 1 || PROMETHEUS_PORT > 65_535) {
  throw new Error(`AUTHMESH_PROMETHEUS_PORT must be a port number, got "${process.env.AUTHMESH_PROMETHEUS_PORT}"`);
}

/**
 * When the `prometheus` binary is installed (Debian's prometheus package), a Prometheus on
 * 127.0.0.1 scrapes every process of the mesh with the alert rules of deploy/monitoring loaded;
 * its configuration, data and log are in .mesh/prometheus. Without the binary, nothing.
 */
function startMeshPrometheus(processes: readonly MeshProcess[]): void {
  const binary = prometheusBinary(process.env.PATH);
  if (binary === undefined) return;
  checkNotRunning([{ name: 'prometheus', entry: '', listen: '', args: [] }]);
  const dir = path.join(MESH_DIR, 'prometheus');
  const prom = startPrometheus(binary, dir, PROMETHEUS_PORT, processes.map((p) => ({ name: p.name, address: metricsAddress(p.listen) })));
  const log = createWriteStream(path.join(dir, 'prometheus.log'), { flags: 'a' });
  prom.child.stdout!.pipe(log);
  prom.child.stderr!.pipe(log);
  track('prometheus', prom.child);
  say(`Prometheus scrapes every process, alert rules loaded: ${prom.url} (alerts ${prom.url}/alerts; log ${path.join(dir, 'prometheus.log')})`);
}

async function main(): Promise<void> {
  const globals = POSTGRES ? [GLOBAL_PROCESS, GLOBAL_2_PROCESS] : [GLOBAL_PROCESS];
  const all = [...globals, ...REGIONAL_PROCESSES, BACKUP_PROCESS, ...GATEWAY_PROCESSES];
  mkdirSync(RUN_DIR, { recursive: true });
  checkNotRunning(all);
  if (POSTGRES) checkNotRunning(['postgres-primary', 'postgres-standby'].map((name) => ({ name, entry: '', listen: '', args: [] })));
  for (const p of all) p.args.push(...meshTlsArgs(p.name));
  meshCredentials('admin');
  say(`mutual TLS on every internal hop; mesh CA ${path.join(CA_DIR, 'ca.pem')}, admin certificate for the CLI in ${CA_DIR}`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      say(`${signal}: stopping the mesh`);
      void stopAll().then(() => process.exit(0));
    });
  }

  await startTraceReceiver();
  if (POSTGRES) await startPostgresPair();
  // One instance first (it creates the shared tokens and keys), then the others.
  start(GLOBAL_PROCESS);
  await waitServing(GLOBAL_PROCESS);
  for (const r of REGIONS) writeMemberTokenFile(GLOBAL_DIR, `regional-${r.region}`);
  for (const p of globals.slice(1)) start(p);
  await Promise.all(globals.slice(1).map((p) => waitServing(p)));
  writeFileSync(
    path.join(RUN_DIR, 'mesh.json'),
    JSON.stringify({ globals: globals.map((p) => ({ name: p.name, address: p.listen })), ...(POSTGRES ? { postgres: { nodes: PG_NODES.map((n) => ({ name: n.name, address: `127.0.0.1:${n.port}` })), user: PG_USER, passwordFile: PG_PASSWORD_FILE } } : {}) }, null, 2),
  );
  const seed = await seedDemo(MESH_DIR, GLOBAL, meshCredentials('admin'));
  await setUpBackup();
  const rest = [...REGIONAL_PROCESSES, BACKUP_PROCESS, ...GATEWAY_PROCESSES];
  for (const p of rest) start(p);
  await Promise.all(rest.map((p) => waitServing(p)));
  const examples = exampleProcesses(seed);
  checkNotRunning(examples);
  for (const p of examples) start(p);
  await waitServing(examples[0]!);
  all.push(...examples);

  startMeshPrometheus(all.filter((p) => !p.entry.startsWith('examples/')));
  say('the mesh is up:');
  for (const p of all) say(`  ${p.name.padEnd(16)} ${p.listen}  pid ${children.get(p.name)?.pid ?? '-'}${p.entry.startsWith('examples/') ? '' : `  metrics http://${metricsAddress(p.listen)}/metrics`}`);
  say('get a token for the demo workload through the eastus gateway:');
  process.stdout.write(`\n  ${tokenCommand(seed, REGIONS[0]!.gateway, process.env.AUTHMESH_ISSUER)}\n\n`);
  say(`verify it against: npx authmesh jwks --tenant ${seed.tenantId}`);
  say('Ctrl-C stops everything');
}

main().catch(async (err: unknown) => {
  say(`failed to start: ${err instanceof Error ? err.message : String(err)}`);
  await stopAll();
  process.exit(1);
});
