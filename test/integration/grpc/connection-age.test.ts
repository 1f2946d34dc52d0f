import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { credentials, makeGenericClientConstructor, Metadata, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { AcquireTokenResponse, TokenServiceClient } from '../../../gen/authmesh/token/v1/token.js';
import { serve, type ConnectionAgeLimits, type RunningServer } from '../../../lib/grpc/index.js';
import { silentLogger } from '../../../lib/log/index.js';
import type { ForwardResult } from '../../../gateway/routing/forwarder.js';
import { startGrpcFront, type RunningGrpcFront } from '../../../gateway/front/grpc-front.js';
import { TOKEN_SERVICE_NAME } from '../../../gateway/pass-through.js';
import { parseRegionalConfig, REGIONAL_OPTIONS } from '../../../services/regional/config.js';
import { GLOBAL_OPTIONS } from '../../../services/global/config.js';
import { BACKUP_OPTIONS } from '../../../services/backup/config.js';
import { AGENT_OPTIONS } from '../../../services/identity-agent/config.js';
import { GATEWAY_OPTIONS, parseGatewayConfig } from '../../../gateway/config.js';
import { ConfigError } from '../../../lib/config/index.js';

interface HealthClient extends Client {
  check(req: { service: string }, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res?: { status?: string | number }) => void): void;
}
const Health = makeGenericClientConstructor(healthService, 'Health') as unknown as new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => HealthClient;

const REQUEST = { tenantId: 't1', clientId: 'app1', scope: 'https://storage.authmesh.local/.default', clientAssertion: 'a.b.c', clientAssertionType: '', clientSecret: '' };
const AGE: ConnectionAgeLimits = { maxAgeMs: 300, graceMs: 2000 };

/** A TCP pass-through on 127.0.0.1 that counts the connections clients open through it. */
async function countingProxy(target: () => number): Promise<{ address: string; connections: () => number; close(): Promise<void> }> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    count += 1;
    const upstream = net.connect(target(), '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.once('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Runs `call` with `concurrency` callers until the proxy has seen `connections` connections, at
 * most `maxCalls` calls or `maxMs`; returns the calls made and the errors met.
 */
async function callUntil(call: () => Promise<void>, done: () => boolean, limits = { concurrency: 4, maxCalls: 3000, maxMs: 8000 }): Promise<{ calls: number; errors: string[] }> {
  let calls = 0;
  const errors: string[] = [];
  const until = Date.now() + limits.maxMs;
  const worker = async (): Promise<void> => {
    while (!done() && calls < limits.maxCalls && Date.now() < until) {
      calls += 1;
      try {
        await call();
      } catch (err) {
        errors.push(String((err as Error).message));
      }
    }
  };
  await Promise.all(Array.from({ length: limits.concurrency }, worker));
  return { calls, errors };
}

function ok(): ForwardResult {
  const bytes = Buffer.from(AcquireTokenResponse.encode({ accessToken: 't', tokenType: 'Bearer', expiresIn: 60, refreshIn: 30, faultDomain: 'regional/eastus' }).finish());
  return { ok: true, bytes, trailers: new Metadata(), domain: 'regional/eastus', attempts: 1 };
}

const later = <T>(ms: number, value: T): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(value), ms));

describe('connection age', function () {
  this.timeout(20_000);

  describe('grpc-js servers (serve)', () => {
    let server: RunningServer;
    let proxy: Awaited<ReturnType<typeof countingProxy>>;
    let client: HealthClient;

    before(async () => {
      server = await serve({ listen: '127.0.0.1:0', services: [], connectionAge: AGE });
      proxy = await countingProxy(() => server.port);
      client = new Health(proxy.address, credentials.createInsecure());
    });

    after(async () => {
      client.close();
      await proxy.close();
      await server.shutdown(100);
    });

    it('sends GOAWAY after the age so the client opens a new connection, and no call fails', async () => {
      const check = (): Promise<void> =>
        new Promise((resolve, reject) => client.check({ service: '' }, new Metadata(), { deadline: Date.now() + 5000 }, (err) => (err ? reject(err) : resolve())));
      const { calls, errors } = await callUntil(check, () => proxy.connections() >= 3);
      assert.deepEqual(errors, [], `${errors.length} of ${calls} calls failed`);
      assert.ok(proxy.connections() >= 3, `${proxy.connections()} connection(s) over ${calls} calls`);
    });
  });

  describe('the gateway gRPC front (lib/http2)', () => {
    let inner: RunningServer;
    let socket: string;
    let front: RunningGrpcFront | undefined;
    let proxy: Awaited<ReturnType<typeof countingProxy>> | undefined;
    let client: TokenServiceClient | undefined;

    before(async () => {
      socket = `/tmp/authmesh-age-test-${process.pid}.sock`;
      inner = await serve({ listen: `unix:${socket}`, services: [], healthServices: [TOKEN_SERVICE_NAME] });
    });

    const start = async (age: ConnectionAgeLimits, answer: () => Promise<ForwardResult>): Promise<TokenServiceClient> => {
      front = await startGrpcFront({
        listen: '127.0.0.1:0',
        forwarder: { forward: answer },
        inner: { connect: () => http2.connect('http://localhost', { createConnection: () => net.connect(socket) }) },
        log: silentLogger(),
        connectionAge: age,
      });
      proxy = await countingProxy(() => front!.port);
      client = new TokenServiceClient(proxy.address, credentials.createInsecure());
      return client;
    };

    const acquire = (c: TokenServiceClient, deadlineMs = 5000): Promise<void> =>
      new Promise((resolve, reject) => c.acquireToken(REQUEST, new Metadata(), { deadline: Date.now() + deadlineMs }, (err) => (err ? reject(err) : resolve())));

    afterEach(async () => {
      client?.close();
      await proxy?.close();
      await front?.close(100);
    });

    after(() => inner.shutdown(100));

    it('sends GOAWAY after the age so the client opens a new connection, and no call fails', async () => {
      // Each answer takes a while, so calls are in flight whenever a GOAWAY goes out.
      const c = await start(AGE, () => later(20, ok()));
      const { calls, errors } = await callUntil(() => acquire(c), () => proxy!.connections() >= 3);
      assert.deepEqual(errors, [], `${errors.length} of ${calls} calls failed`);
      assert.ok(proxy!.connections() >= 3, `${proxy!.connections()} connection(s) over ${calls} calls`);
    });

    it('lets a call in flight at the GOAWAY finish within the grace', async () => {
      const c = await start({ maxAgeMs: 100, graceMs: 3000 }, () => later(600, ok()));
      await acquire(c);
      // The GOAWAY went out while the call waited: the next call takes a new connection.
      await acquire(c);
      assert.equal(proxy!.connections(), 2);
    });

    it('closes a connection whose calls outlast the grace', async () => {
      const c = await start({ maxAgeMs: 100, graceMs: 300 }, () => new Promise<ForwardResult>(() => undefined));
      const err = await acquire(c, 8000).then(
        () => undefined,
        (e: ServiceError) => e,
      );
      assert.ok(err !== undefined, 'the call was answered');
      assert.notEqual(err.code, status.DEADLINE_EXCEEDED, 'the call ran into its deadline instead of the closed connection');
    });
  });

  describe('configuration', () => {
    const regional = ['--region', 'eastus'];
    const gateway = ['--region', 'eastus', '--regional', '127.0.0.1:1', '--global', '127.0.0.1:2'];

    it('defaults to 5 minutes and 30 s of grace in every service when no flag is given', () => {
      for (const [name, options] of Object.entries({ GLOBAL_OPTIONS, REGIONAL_OPTIONS, BACKUP_OPTIONS, AGENT_OPTIONS, GATEWAY_OPTIONS })) {
        const specs = options as Record<string, { default?: string }>;
        assert.equal(specs['max-connection-age']?.default, '5m', name);
        assert.equal(specs['max-connection-age-grace']?.default, '30s', name);
      }
      const r = parseRegionalConfig(regional, {});
      assert.equal(r['max-connection-age'], 300_000);
      assert.equal(r['max-connection-age-grace'], 30_000);
      assert.deepEqual(parseGatewayConfig(gateway, {}).connectionAge, { maxAgeMs: 300_000, graceMs: 30_000 });
    });

    it('takes the age from a flag or AUTHMESH_MAX_CONNECTION_AGE', () => {
      assert.equal(parseGatewayConfig([...gateway, '--max-connection-age', '90s'], {}).connectionAge?.maxAgeMs, 90_000);
      assert.equal(parseRegionalConfig(regional, { AUTHMESH_MAX_CONNECTION_AGE_GRACE: '5s' })['max-connection-age-grace'], 5_000);
    });

    it('refuses an age that is no duration or longer than a timer takes, naming the option', () => {
      for (const bad of ['soon', '30d']) {
        assert.throws(() => parseRegionalConfig([...regional, '--max-connection-age', bad], {}), (e: unknown) => e instanceof ConfigError && /max-connection-age/.test(e.message));
      }
    });
  });
});
