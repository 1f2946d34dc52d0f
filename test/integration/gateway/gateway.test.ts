import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { GatewayAdminServiceClient, BreakerState, DomainHealth, type GetStatusResponse } from '../../../gen/authmesh/gateway/v1/gateway.js';
import { TokenServiceClient, type AcquireTokenResponse } from '../../../gen/authmesh/token/v1/token.js';
import { bearer } from '../../../lib/grpc/index.js';
import { silentLogger } from '../../../lib/log/index.js';
import { ConfigError } from '../../../lib/config/index.js';
import { DEFAULT_BREAKER_OPTIONS } from '../../../gateway/routing/breaker-factory.js';
import type { GatewayConfig } from '../../../gateway/config.js';
import { startGateway, type RunningGateway } from '../../../gateway/gateway.js';
import { formatGatewayStatus } from '../../../gateway/routing/status-format.js';
import { startFakeTokenServer, type FakeTokenServer } from '../../support/fake-token-server.js';

const R = 'regional/eastus';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REQUEST = { tenantId: 't1', clientId: 'app1', scope: 'https://storage.authmesh.local/.default', clientAssertion: 'a.b.c', clientAssertionType: '', clientSecret: '' };

interface Outcome {
  res?: AcquireTokenResponse;
  err?: ServiceError;
  trailers: Metadata;
  ms: number;
}

async function waitUntil(cond: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function acquire(client: TokenServiceClient, deadlineMs = 5000): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    let res: AcquireTokenResponse | undefined;
    let err: ServiceError | undefined;
    const call = client.acquireToken(REQUEST, new Metadata(), { deadline: Date.now() + deadlineMs }, (e, r) => {
      err = e ?? undefined;
      res = r;
    });
    call.on('status', (s) => resolve({ ...(res ? { res } : {}), ...(err ? { err } : {}), trailers: s.metadata, ms: Date.now() - started }));
  });
}

const t = (o: Outcome, key: string): string | undefined => o.trailers.get(key)[0]?.toString();

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('gateway over real grpc-js', function () {
  this.timeout(15_000);
  let regional: FakeTokenServer;
  let global: FakeTokenServer;
  let gateway: RunningGateway;
  let client: TokenServiceClient;
  let admin: GatewayAdminServiceClient;

  async function start(patch: Partial<GatewayConfig> = {}): Promise<void> {
    regional = await startFakeTokenServer(R);
    global = await startFakeTokenServer('global');
    const config: GatewayConfig = {
      region: 'eastus',
      listen: '127.0.0.1:0',
      domains: [
        { name: R, address: regional.address },
        { name: 'global', address: global.address },
      ],
      defaultDeadlineMs: 5000,
      attemptTimeoutMs: 1000,
      breaker: { ...DEFAULT_BREAKER_OPTIONS, volumeThreshold: 2, resetTimeout: 150, rollingCountTimeout: 1000, rollingCountBuckets: 10 },
      retry: { maxTokens: 100, tokenRatio: 0.1, refillPerSecond: 5 },
      channels: 1,
      snapshotMaxAgeMs: 0,
      logLevel: 'silent',
      statusTokenFile,
      ...patch,
    };
    gateway = await startGateway(config, { log: silentLogger(), watchBackoff: { baseMs: 20, capMs: 200 } });
    client = new TokenServiceClient(gateway.address, credentials.createInsecure());
    admin = new GatewayAdminServiceClient(gateway.address, credentials.createInsecure());
  }

  const statusToken = `status-${process.pid}-${Date.now()}`;
  const statusTokenFile = path.join(os.tmpdir(), `authmesh-gateway-status-token-${process.pid}`);
  fs.writeFileSync(statusTokenFile, statusToken, { mode: 0o600 });
  after(() => fs.rmSync(statusTokenFile, { force: true }));
  const statusOf = (token = statusToken): Promise<GetStatusResponse> =>
    new Promise((resolve, reject) => admin.getStatus({}, bearer(token), (e, r) => (e ? reject(e) : resolve(r))));

  it('refuses GetStatus on the public port without the mesh token', async () => {
    await start();
    await assert.rejects(statusOf('wrong'), (e: ServiceError) => e.code === status.UNAUTHENTICATED);
    await assert.rejects(new Promise((resolve, reject) => admin.getStatus({}, (e, r) => (e ? reject(e) : resolve(r)))), (e: ServiceError) => e.code === status.UNAUTHENTICATED);
    assert.equal((await statusOf()).region, 'eastus');
  });

  afterEach(async () => {
    client?.close();
    admin?.close();
    await gateway?.shutdown(200);
    await regional?.stop();
    await global?.stop();
  });

  it('answers from the home regional with its trailers plus fault domain and attempts', async () => {
    await start();
    const o = await acquire(client);
    assert.equal(o.err, undefined);
    assert.equal(o.res!.faultDomain, R);
    assert.equal(o.res!.accessToken, `token-app1-from-${R}`);
    assert.deepEqual(regional.lastRequest, REQUEST, 'the domain decodes exactly what the caller sent');
    assert.equal(t(o, 'authmesh-fault-domain'), R);
    assert.equal(t(o, 'authmesh-attempts'), '1');
    assert.equal(t(o, 'authmesh-data-age-ms'), '12');
  });

  it('fails over from a failing regional to global inside the same call', async () => {
    await start();
    regional.set({ kind: 'fail', code: status.UNAVAILABLE, oauthError: 'temporarily_unavailable', reason: 'cache-miss-unfillable' });
    const o = await acquire(client);
    assert.equal(o.err, undefined);
    assert.equal(o.res!.faultDomain, 'global');
    assert.equal(t(o, 'authmesh-fault-domain'), 'global');
    assert.equal(t(o, 'authmesh-attempts'), '2');
    assert.equal(regional.calls.acquireToken, 1);
  });

  it('passes a caller error through with its oauth-error trailer and never trips the breaker', async () => {
    await start();
    regional.set({ kind: 'fail', code: status.PERMISSION_DENIED, details: 'no role on the resource', oauthError: 'unauthorized_client' });
    for (let i = 0; i < 6; i += 1) {
      const o = await acquire(client);
      assert.equal(o.err?.code, status.PERMISSION_DENIED);
      assert.equal(o.err?.details, 'no role on the resource');
      assert.equal(t(o, 'oauth-error'), 'unauthorized_client');
      assert.equal(t(o, 'authmesh-fault-domain'), R);
    }
    assert.equal(global.calls.acquireToken, 0);
    const s = await statusOf();
    assert.equal(s.domains[0]!.breakerState, BreakerState.BREAKER_STATE_CLOSED);
    assert.equal(s.domains[0]!.errors, 0);
    assert.equal(s.domains[0]!.callerErrors, 6);
  });

  it('counts HTTPS token requests in --max-in-flight with gRPC calls: past it both fronts answer overloaded', async () => {
    await start({ maxInFlight: 1, attemptTimeoutMs: 1000, http: { listen: '127.0.0.1:0', issuer: 'https://login.authmesh.local', publicUrl: undefined, plaintext: true, maxBodyBytes: 65536, tlsCertFile: undefined, tlsKeyFile: undefined, dataDir: undefined } });
    regional.set({ kind: 'hang' });
    global.set({ kind: 'hang' });
    const form = new URLSearchParams({ grant_type: 'client_credentials', scope: 'https://storage.authmesh.local/.default', client_id: 'app1', client_secret: 's3cret' });
    const post = (): Promise<{ status: number; body: { error?: string } }> =>
      fetch(`${gateway.http!.url}/t1/oauth2/v2.0/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: String(form) }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as { error?: string },
      }));
    // An HTTPS request holds the one slot while the domains hang: a gRPC call is shed.
    const held = post();
    await waitUntil(() => regional.calls.acquireToken + global.calls.acquireToken > 0);
    const shed = await acquire(client, 2000);
    assert.equal(shed.err?.code, status.RESOURCE_EXHAUSTED);
    // And a gRPC call holding it sheds an HTTPS request.
    await held;
    const grpcHeld = acquire(client, 2000);
    await new Promise((r) => setTimeout(r, 50));
    const refused = await post();
    assert.equal(refused.status, 503);
    assert.equal(refused.body.error, 'temporarily_unavailable');
    await grpcHeld;
  });

  it('respects the caller deadline when every domain hangs', async () => {
    await start({ attemptTimeoutMs: 300 });
    regional.set({ kind: 'hang' });
    global.set({ kind: 'hang' });
    const o = await acquire(client, 450);
    assert.ok(o.err, 'no answer from hung domains');
    // Generous on a busy machine: the call ends near its deadline, not at the 300 ms attempt timeouts summed or later.
    assert.ok(o.ms < 450 + 1000, `answered after ${o.ms} ms with a 450 ms deadline`);
    console.log(`      all hung: caller got ${status[o.err.code]} after ${o.ms} ms (deadline 450 ms)`);
  });

  it('answers UNAVAILABLE no-healthy-domain naming each domain when all hang past the attempt timeout', async () => {
    await start({ attemptTimeoutMs: 150 });
    regional.set({ kind: 'hang' });
    global.set({ kind: 'hang' });
    const o = await acquire(client, 3000);
    assert.equal(o.err?.code, status.UNAVAILABLE);
    assert.equal(t(o, 'oauth-error'), 'temporarily_unavailable');
    assert.equal(t(o, 'authmesh-reason'), 'no-healthy-domain');
    assert.match(o.err!.details, /regional\/eastus: DEADLINE_EXCEEDED/);
    assert.match(o.err!.details, /global: DEADLINE_EXCEEDED/);
    assert.ok(o.ms < 2500, `took ${o.ms} ms: the caller's 3 s deadline, not the attempt timeouts, ended it`);
  });

  it('hung regional: every call still succeeds, from global, once per attempt timeout at most', async () => {
    await start({ attemptTimeoutMs: 200 });
    regional.set({ kind: 'hang' });
    const outcomes = await Promise.all(Array.from({ length: 4 }, () => acquire(client, 2000)));
    for (const o of outcomes) assert.equal(o.res?.faultDomain, 'global');
    assert.ok(Math.max(...outcomes.map((o) => o.ms)) < 1500, 'a call waited for its 2 s deadline instead of one attempt timeout');
  });

  it('opens the breaker, probes when half-open, closes, and sends traffic home again', async () => {
    await start();
    regional.set({ kind: 'fail', code: status.UNAVAILABLE });
    for (let i = 0; i < 3; i += 1) assert.equal((await acquire(client)).res?.faultDomain, 'global');
    let s = await statusOf();
    assert.equal(s.domains[0]!.breakerState, BreakerState.BREAKER_STATE_OPEN);
    const before = regional.calls.acquireToken;
    assert.equal((await acquire(client)).res?.faultDomain, 'global');
    assert.equal(regional.calls.acquireToken, before, 'an open breaker sends nothing');
    regional.set({ kind: 'answer' });
    await until('half-open', () => gateway.domains[0]!.breaker.halfOpen);
    const probeCall = await acquire(client);
    assert.equal(probeCall.res?.faultDomain, 'global', 'the caller is not the probe');
    await until('probe reached the regional', () => regional.calls.acquireToken === before + 1);
    await until('closed', () => gateway.domains[0]!.breaker.closed);
    assert.equal((await acquire(client)).res?.faultDomain, R);
    s = await statusOf();
    assert.equal(s.domains[0]!.breakerState, BreakerState.BREAKER_STATE_CLOSED);
    console.log(formatGatewayStatus(s).replace(/^/gm, '      '));
  });

  it('skips a domain whose health watch says NOT_SERVING and returns when it serves again', async () => {
    await start();
    await until('watch SERVING', async () => (await statusOf()).domains[0]!.health === DomainHealth.DOMAIN_HEALTH_SERVING);
    regional.setHealth('NOT_SERVING');
    await until('watch NOT_SERVING', async () => (await statusOf()).domains[0]!.health === DomainHealth.DOMAIN_HEALTH_NOT_SERVING);
    const before = regional.calls.acquireToken;
    const o = await acquire(client);
    assert.equal(o.res?.faultDomain, 'global');
    assert.equal(t(o, 'authmesh-attempts'), '1');
    assert.equal(regional.calls.acquireToken, before);
    regional.setHealth('SERVING');
    await until('watch SERVING again', async () => (await statusOf()).domains[0]!.health === DomainHealth.DOMAIN_HEALTH_SERVING);
    assert.equal((await acquire(client)).res?.faultDomain, R);
  });

  it('fails over from a stopped regional, and sees its health watch drop', async () => {
    await start();
    await regional.stop();
    const o = await acquire(client);
    assert.equal(o.res?.faultDomain, 'global');
    await until('unreachable', async () => (await statusOf()).domains[0]!.health === DomainHealth.DOMAIN_HEALTH_UNREACHABLE);
  });

  it('forwards GetJwks bytes as they are', async () => {
    await start();
    const jwks = await new Promise<string>((resolve, reject) =>
      client.getJwks({ tenantId: 't1' }, (e, r) => (e ? reject(e) : resolve(r.jwksJson))),
    );
    assert.deepEqual(JSON.parse(jwks), { keys: [], from: R });
  });
});

describe('gateway reflection', function () {
  this.timeout(10_000);
  it('refuses to start with a backup token file it cannot read, naming the flag', async () => {
    await assert.rejects(
      startGateway(
        {
          region: 'eastus', listen: '127.0.0.1:0', domains: [{ name: R, address: '127.0.0.1:1' }, { name: 'backup', address: '127.0.0.1:2' }],
          backupTokenFile: '/nonexistent/authmesh/mesh-token', defaultDeadlineMs: 1000, attemptTimeoutMs: 500,
          breaker: DEFAULT_BREAKER_OPTIONS, retry: { maxTokens: 10, tokenRatio: 0.1, refillPerSecond: 0.5 }, channels: 1, snapshotMaxAgeMs: 0, logLevel: 'silent',
        },
        { log: silentLogger(), healthWatch: false },
      ),
      (err: Error) => err instanceof ConfigError && /--backup-token-file: cannot read a token from \/nonexistent\/authmesh\/mesh-token/.test(err.message),
    );
  });

  it('lists TokenService and GatewayAdminService', async () => {
    const path = await import('node:path');
    const grpc = await import('@grpc/grpc-js');
    const { loadSync } = await import('@grpc/proto-loader');
    const root = path.dirname(require.resolve('@grpc/reflection/package.json'));
    const pkg = grpc.loadPackageDefinition(loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [path.join(root, 'build', 'proto')], keepCase: true }));
    const gateway = await startGateway(
      {
        region: 'eastus', listen: '127.0.0.1:0', domains: [{ name: R, address: '127.0.0.1:1' }], defaultDeadlineMs: 1000, attemptTimeoutMs: 500,
        breaker: DEFAULT_BREAKER_OPTIONS, retry: { maxTokens: 10, tokenRatio: 0.1, refillPerSecond: 0.5 }, channels: 1, snapshotMaxAgeMs: 0, logLevel: 'silent',
      },
      { log: silentLogger(), healthWatch: false },
    );
    type Ctor = new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => { ServerReflectionInfo(): NodeJS.ReadWriteStream & { end(): void; write(m: unknown): void }; close(): void };
    const Reflection = (pkg as unknown as { grpc: { reflection: { v1: { ServerReflection: Ctor } } } }).grpc.reflection.v1.ServerReflection;
    const c = new Reflection(gateway.address, credentials.createInsecure());
    try {
      const names = await new Promise<string[]>((resolve, reject) => {
        const stream = c.ServerReflectionInfo();
        stream.on('data', (m: { list_services_response?: { service: { name: string }[] } }) => resolve((m.list_services_response?.service ?? []).map((s) => s.name)));
        stream.on('error', reject);
        stream.write({ list_services: '' });
        stream.end();
      });
      assert.ok(names.includes('authmesh.token.v1.TokenService'), names.join(','));
      assert.ok(names.includes('authmesh.gateway.v1.GatewayAdminService'), names.join(','));
    } finally {
      c.close();
      await gateway.shutdown(100);
    }
  });
});
