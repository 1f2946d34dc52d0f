import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { DirectoryServiceClient } from '../../../gen/authmesh/directory/v1/directory.js';
import { TokenServiceClient } from '../../../gen/authmesh/token/v1/token.js';
import { DEFAULT_BREAKER_OPTIONS } from '../../../gateway/routing/breaker-factory.js';
import { startGateway, type RunningGateway } from '../../../gateway/gateway.js';
import { systemClock } from '../../../lib/clock/index.js';
import { loadMeshTls, meshChannelCredentials, meshChannelOptions } from '../../../lib/grpc/index.js';
import { silentLogger } from '../../../lib/log/index.js';
import { createMeshCa, loadOrIssueMeshCert, type MeshCertFiles } from '../../../lib/tls/index.js';
import { DEFAULT_ISSUER } from '../../../lib/token/index.js';
import { startGlobal, type GlobalServer } from '../../../services/global/global-server.js';
import { call, callError } from '../../support/global-harness.js';

/**
 * Mesh clients check who the server is: a mesh member with a valid certificate from the same CA
 * (here a compromised regional-westus running the global authority's code, with its own data and
 * keys) must not be taken for global, by a regional's directory client or by a gateway.
 */
describe('mesh clients verify the server SPIFFE id', function () {
  this.timeout(30_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-peer-id-'));
  const caDir = path.join(dir, 'ca');
  const filesOf = (member: string): MeshCertFiles => loadOrIssueMeshCert(caDir, createMeshCa(caDir), member);
  let real: GlobalServer;
  let impostor: GlobalServer;

  const startAs = (member: string, name: string): Promise<GlobalServer> =>
    startGlobal({
      listen: '127.0.0.1:0', dataDir: path.join(dir, name), issuer: DEFAULT_ISSUER, tokenLifetimeMs: 3_600_000, watchHeartbeatMs: 5000,
      usageFlushMs: 50, snapshotIdentities: 5000, clock: systemClock, log: silentLogger(), tls: loadMeshTls(filesOf(member)),
    });

  before(async () => {
    real = await startAs('global', 'real');
    impostor = await startAs('regional-westus', 'impostor');
  });

  after(async () => {
    await Promise.all([real?.stop(500), impostor?.stop(500)]);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a regional's directory channel (expecting global) reaches global and refuses another member serving global's API", async () => {
    const creds = meshChannelCredentials(loadMeshTls(filesOf('regional-eastus')), 'global');
    for (const [server, ok] of [[real, true], [impostor, false]] as const) {
      const client = new DirectoryServiceClient(server.address, creds, meshChannelOptions(server.address, creds));
      try {
        if (ok) assert.ok((await call<{ revision: number }>(client, 'getSnapshot', { region: 'eastus', maxIdentities: 1 })).revision > 0);
        else assert.equal((await callError(client, 'getSnapshot', { region: 'eastus', maxIdentities: 1 })).code, status.UNAVAILABLE);
      } finally {
        client.close();
      }
    }
  });

  for (const transport of ['relay', 'grpc-js'] as const) {
    it(`a gateway (${transport}) takes only global's certificate as global: the impostor's JWK Set never reaches a caller`, async () => {
      const gatewayTo = (global: GlobalServer): Promise<RunningGateway> =>
        startGateway(
          {
            region: 'eastus', listen: '127.0.0.1:0', transport, domains: [{ name: 'global', address: global.address }],
            defaultDeadlineMs: 2000, attemptTimeoutMs: 1000, breaker: DEFAULT_BREAKER_OPTIONS,
            retry: { maxTokens: 10, tokenRatio: 0.1, refillPerSecond: 0.5 }, channels: 1, snapshotMaxAgeMs: 0, logLevel: 'silent',
            meshTls: filesOf('gateway-eastus'),
          },
          { log: silentLogger(), healthWatch: false },
        );
      const jwksVia = async (gateway: RunningGateway): Promise<{ kids?: string[]; err?: ServiceError }> => {
        const client = new TokenServiceClient(gateway.address, credentials.createInsecure());
        try {
          const { jwksJson } = await call<{ jwksJson: string }>(client, 'getJwks', { tenantId: 'any' });
          return { kids: (JSON.parse(jwksJson) as { keys: { kid: string }[] }).keys.map((k) => k.kid) };
        } catch (err) {
          return { err: err as ServiceError };
        } finally {
          client.close();
        }
      };
      const good = await gatewayTo(real);
      const bad = await gatewayTo(impostor);
      try {
        assert.deepEqual((await jwksVia(good)).kids, [real.signer.kid]);
        const out = await jwksVia(bad);
        assert.equal(out.kids, undefined, `the impostor answered as global: ${out.kids?.join(', ')}`);
        assert.equal(out.err?.code, status.UNAVAILABLE, out.err?.details);
      } finally {
        await Promise.all([good.shutdown(0), bad.shutdown(0)]);
      }
    });
  }
});
