import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { credentials, Metadata, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { AdminServiceClient } from '../../gen/authmesh/admin/v1/admin.js';
import { TokenServiceClient, type AcquireTokenResponse } from '../../gen/authmesh/token/v1/token.js';
import { bearer, meshChannelOptions, meshTarget, unary, waitForServing as waitForServingLib, writeMemberTokenFile } from '../../lib/grpc/index.js';
import { createMeshCa, loadOrIssueMeshCert, type MeshCertFiles } from '../../lib/tls/index.js';
import { ASSERTION_TYPE, DEFAULT_ISSUER, buildAssertion } from '../../lib/token/index.js';
import { sleep, spawnService, type SpawnedService } from './spawn-service.js';

export const RESOURCE = 'https://storage.authmesh.local';

/** A workload registered in the test mesh, holding an assertion it reuses as SDKs do. */
export interface TestWorkload {
  tenantId: string;
  clientId: string;
  privateKey: KeyObject;
  assertion: string;
}

export interface AcquireOutcome {
  response?: AcquireTokenResponse;
  error?: ServiceError;
  trailers?: Metadata;
  ms: number;
}

interface ProcessSpec {
  entry: string;
  args: (port: number) => string[];
  port: number;
}

/**
 * The mesh as real processes in a temp folder, each on a port picked by the OS at first start
 * and kept across restarts. Only processes started here are ever signalled.
 */
export class TestMesh {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-mesh-'));
  readonly procs = new Map<string, SpawnedService>();
  private readonly specs = new Map<string, ProcessSpec>();
  private readonly clients: TokenServiceClient[] = [];
  adminToken = '';
  tenantId = '';
  /** The global instances regional, gateway and admin calls are pointed at (one unless startGlobalInstances). */
  globals = ['global'];
  /** Environment added to every process this mesh starts (e.g. OTEL_* for a test collector). */
  env: Record<string, string> = {};
  /** Mutual TLS inside the mesh, as production runs: each member gets a mesh certificate. */
  readonly meshTls: boolean;
  private readonly certs = new Map<string, MeshCertFiles>();

  constructor(options: { meshTls?: boolean } = {}) {
    this.meshTls = options.meshTls ?? false;
  }

  /** The mesh certificate files of `member` (global, regional-<r>, backup, gateway-<r>, admin), issued on first use. */
  certFiles(member: string): MeshCertFiles {
    let f = this.certs.get(member);
    if (f === undefined) {
      const caDir = path.join(this.dir, 'mesh-ca');
      f = loadOrIssueMeshCert(caDir, createMeshCa(caDir), member);
      this.certs.set(member, f);
    }
    return f;
  }

  /** Channel credentials of `member` with mutual TLS on; plaintext otherwise. */
  credentialsAs(member: string): ChannelCredentials {
    if (!this.meshTls) return credentials.createInsecure();
    const f = this.certFiles(member);
    return credentials.createSsl(fs.readFileSync(f.ca), fs.readFileSync(f.key), fs.readFileSync(f.cert));
  }

  /** The mesh member a process is, when it is one: its certificate and its mesh port. */
  private memberOf(name: string): string | undefined {
    return /^(global|backup|regional-[a-z0-9]+|gateway-[a-z0-9]+)$/.test(name) ? name : undefined;
  }

  address(name: string): string {
    const spec = this.specs.get(name);
    if (spec === undefined || spec.port === 0) throw new Error(`${name} has not started`);
    return `127.0.0.1:${spec.port}`;
  }

  /** Starts (or restarts) a process and waits until it logs its address and serves. */
  async start(name: string, entry?: string, args?: (port: number) => string[], env: Record<string, string> = {}): Promise<SpawnedService> {
    let spec = this.specs.get(name);
    if (spec === undefined) {
      if (entry === undefined || args === undefined) throw new Error(`unknown process ${name}`);
      spec = { entry, args, port: 0 };
      this.specs.set(name, spec);
    }
    const member = this.meshTls ? this.memberOf(name) : undefined;
    const meshArgs = member === undefined ? [] : ((f) => ['--mesh-ca', f.ca, '--mesh-cert', f.cert, '--mesh-key', f.key])(this.certFiles(member));
    const proc = spawnService(name, spec.entry, [...spec.args(spec.port), ...meshArgs], { ...this.env, ...env });
    this.procs.set(name, proc);
    const until = Date.now() + 20_000;
    for (;;) {
      const line = proc.output.find((l) => l.includes('"listening"'));
      const m = line === undefined ? null : /"listening":"127\.0\.0\.1:(\d+)"/.exec(line);
      if (m !== null) {
        spec.port = Number(m[1]);
        break;
      }
      if (proc.child.exitCode !== null || Date.now() > until) {
        throw new Error(`${name} did not start:\n${proc.output.slice(-20).join('\n')}`);
      }
      await sleep(50);
    }
    // A gateway's public port stays plaintext (or public TLS); every other member answers the mesh CA only.
    const healthCreds = member === undefined || member.startsWith('gateway-') ? undefined : this.credentialsAs('admin');
    await waitForServingLib(this.address(name), { timeoutMs: 20_000, ...(healthCreds === undefined ? {} : { channelCredentials: healthCreds }) });
    return proc;
  }

  async startGlobal(extra: string[] = [], env: Record<string, string> = {}): Promise<void> {
    await this.start('global', 'services/global/main.js', (port) => ['--listen', `127.0.0.1:${port}`, '--data-dir', path.join(this.dir, 'global'), ...extra], env);
    this.adminToken = fs.readFileSync(path.join(this.dir, 'global', 'admin-token'), 'utf8').trim();
  }

  /** Several global instances on one PostgreSQL store, sharing one data dir. */
  async startGlobalInstances(names: string[], store: string, passwordFile: string): Promise<void> {
    this.globals = names;
    for (const name of names) {
      await this.start(name, 'services/global/main.js', (port) => [
        '--listen', `127.0.0.1:${port}`, '--data-dir', path.join(this.dir, 'global'), '--instance', name, '--store', store, '--store-password-file', passwordFile,
      ]);
    }
    this.adminToken = fs.readFileSync(path.join(this.dir, 'global', 'admin-token'), 'utf8').trim();
  }

  /** Every global instance, as regional and gateway are given it: host:port[,host:port]. */
  globalList(): string {
    return this.globals.map((g) => this.address(g)).join(',');
  }

  async startRegional(region: string, extra: string[] = [], env: Record<string, string> = {}): Promise<void> {
    await this.start(`regional-${region}`, 'services/regional/main.js', (port) => [
      '--region', region, '--listen', `127.0.0.1:${port}`, '--global', this.globalList(),
      '--mesh-token-file', writeMemberTokenFile(path.join(this.dir, 'global'), `regional-${region}`), '--data-dir', path.join(this.dir, `regional-${region}`), ...extra,
    ], env);
  }

  async startGateway(region: string, extra: string[] = [], env: Record<string, string> = {}): Promise<void> {
    await this.start(`gateway-${region}`, 'gateway/main.js', (port) => [
      '--region', region, '--listen', `127.0.0.1:${port}`, '--regional', this.address(`regional-${region}`), '--global', this.globalList(), ...extra,
    ], env);
  }

  signal(name: string, signal: NodeJS.Signals): void {
    const proc = this.procs.get(name);
    if (proc === undefined) throw new Error(`${name} is not running`);
    proc.kill(signal);
  }

  async kill(name: string): Promise<void> {
    const proc = this.procs.get(name);
    if (proc === undefined) return;
    proc.kill('SIGKILL');
    await proc.exited;
  }

  private admin(): { client: InstanceType<typeof AdminServiceClient>; metadata: Metadata } {
    const list = this.globalList();
    const creds = this.credentialsAs('admin');
    return { client: new AdminServiceClient(meshTarget(list), creds, meshChannelOptions(list, creds)), metadata: bearer(this.adminToken) };
  }

  /** Runs one admin call against global with the admin token. */
  async adminCall<Res>(fn: (c: InstanceType<typeof AdminServiceClient>) => (m: Metadata, o: object, cb: (e: ServiceError | null, r: Res) => void) => unknown): Promise<Res> {
    const { client, metadata } = this.admin();
    try {
      return await unary<Res>(fn(client) as never, { metadata });
    } finally {
      client.close();
    }
  }

  /** Creates the tenant and the resource once. */
  async seedTenant(): Promise<string> {
    if (this.tenantId !== '') return this.tenantId;
    const { tenantId } = await this.adminCall<{ tenantId: string }>((c) => (m, o, cb) => c.createTenant({ name: `t-${Date.now()}` }, m, o, cb));
    await this.adminCall((c) => (m, o, cb) => c.createResource({ tenantId, identifier: RESOURCE, roles: ['Blob.Read', 'Blob.Write'] }, m, o, cb));
    this.tenantId = tenantId;
    return tenantId;
  }

  /** Registers a workload with a certificate credential and the Blob.Read role. */
  async addWorkload(name: string, keys: { privateKey: KeyObject; publicKey: KeyObject } = generateKeyPairSync('ec', { namedCurve: 'P-256' })): Promise<TestWorkload> {
    const tenantId = await this.seedTenant();
    const { clientId } = await this.adminCall<{ clientId: string }>((c) => (m, o, cb) => c.createApp({ tenantId, name }, m, o, cb));
    const { privateKey, publicKey } = keys;
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    await this.adminCall((c) => (m, o, cb) => c.addCertificateCredential({ tenantId, clientId, pem, notBefore: 0, notAfter: 0 }, m, o, cb));
    await this.adminCall((c) => (m, o, cb) => c.grantRole({ tenantId, clientId, resource: RESOURCE, role: 'Blob.Read' }, m, o, cb));
    const { assertion } = await buildAssertion({ tenantId, clientId, issuer: DEFAULT_ISSUER, privateKey, lifetimeSeconds: 3600 });
    return { tenantId, clientId, privateKey, assertion };
  }

  /** A TokenService client of a process: a workload's plaintext call to a gateway, a gateway's mesh call to any other member. */
  tokenClient(name: string): TokenServiceClient {
    const client = new TokenServiceClient(this.address(name), name.startsWith('gateway-') ? credentials.createInsecure() : this.credentialsAs('gateway-eastus'));
    this.clients.push(client);
    return client;
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.close();
    await Promise.all([...this.procs.values()].map((p) => p.stop(3000)));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One AcquireToken call; never throws: the outcome says what happened and how long it took. */
export function acquire(client: TokenServiceClient, w: TestWorkload, timeoutMs = 5000): Promise<AcquireOutcome> {
  const started = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e6;
  return new Promise((resolve) => {
    let trailers: Metadata | undefined;
    const call = client.acquireToken(
      { tenantId: w.tenantId, clientId: w.clientId, scope: `${RESOURCE}/.default`, clientAssertion: w.assertion, clientAssertionType: ASSERTION_TYPE, clientSecret: '' },
      new Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err, res) => {
        const ms = elapsed();
        setImmediate(() => resolve(err ? { error: err, ms, ...(trailers ? { trailers } : {}) } : { response: res, ms, ...(trailers ? { trailers } : {}) }));
      },
    );
    call.on('status', (s) => (trailers = s.metadata));
  });
}

export interface LoadReport {
  sent: number;
  failed: number;
  byDomain: Record<string, number>;
  p50: number;
  p99: number;
  maxMs: number;
  errors: string[];
}

/**
 * Closed-loop load: `concurrency` callers, each calling `once` until `durationMs` has passed or
 * `maxRequests` were sent in all. Bounded in time and count.
 */
export async function runLoad(
  once: () => Promise<AcquireOutcome>,
  opts: { concurrency: number; durationMs: number; maxRequests?: number; onTick?: (sent: number) => void },
): Promise<LoadReport> {
  const until = Date.now() + opts.durationMs;
  const max = opts.maxRequests ?? 200_000;
  const latencies: number[] = [];
  const byDomain: Record<string, number> = {};
  const errors: string[] = [];
  let sent = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < until && sent < max) {
      sent += 1;
      opts.onTick?.(sent);
      const out = await once();
      latencies.push(out.ms);
      if (out.response) byDomain[out.response.faultDomain] = (byDomain[out.response.faultDomain] ?? 0) + 1;
      else {
        failed += 1;
        if (errors.length < 10) errors.push(`${out.error?.code} ${out.error?.details}`);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0) * 10) / 10;
  return { sent, failed, byDomain, p50: pct(0.5), p99: pct(0.99), maxMs: Math.round(latencies[latencies.length - 1] ?? 0), errors };
}

/** An `onTick` for {@link runLoad} that runs `action` once, as the `at`-th call is sent (a kill under load). */
export function onceAtCall(at: number, action: () => void): (sent: number) => void {
  let done = false;
  return (sent) => {
    if (done || sent < at) return;
    done = true;
    action();
  };
}

export function printReport(title: string, r: LoadReport): void {
  console.log(`      ${title}: sent=${r.sent} failed=${r.failed} p50=${r.p50}ms p99=${r.p99}ms max=${r.maxMs}ms domains=${JSON.stringify(r.byDomain)}${r.errors.length ? ` errors=${JSON.stringify(r.errors)}` : ''}`);
}
