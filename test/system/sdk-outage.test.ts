import assert from 'node:assert/strict';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { CertificateCredential, TokenCache, type TokenCacheEvent } from '../../client/index.js';
import { StorageServiceClient, type ReadBlobResponse } from '../../gen/authmesh/storage/v1/storage.js';
import { RESOURCE, TestMesh, type TestWorkload } from '../support/mesh-harness.js';
import { sleep } from '../support/spawn-service.js';

const LIFETIME = ['--token-lifetime', '8s'];
const SCOPE = `${RESOURCE}/.default`;

interface ReadOutcome {
  ok: boolean;
  faultDomain?: string;
  code?: string;
  message?: string;
}

/**
 * A workload holding a token rides out the loss of the whole mesh (global, regional, gateway
 * killed) until the token expires, then gets a clear error, and recovers when the mesh returns.
 */
describe('client SDK through a whole-mesh outage (system)', function () {
  this.timeout(120_000);
  let mesh: TestMesh;
  let worker: TestWorkload;
  let storage: StorageServiceClient;
  let credential: CertificateCredential;
  const events: TokenCacheEvent[] = [];

  const read = async (): Promise<ReadOutcome> => {
    let token: string;
    try {
      token = (await credential.getToken(SCOPE, { deadline: Date.now() + 2000 })).token;
    } catch (err) {
      return { ok: false, code: (err as { code?: string }).code ?? 'unknown', message: (err as Error).message };
    }
    const md = new Metadata();
    md.set('authorization', `Bearer ${token}`);
    return new Promise((resolve) => {
      storage.readBlob({ name: 'a.txt' }, md, { deadline: Date.now() + 2000 }, (err: ServiceError | null, res: ReadBlobResponse) =>
        resolve(err ? { ok: false, code: `storage ${err.code}`, message: err.details } : { ok: true, faultDomain: res.tokenFaultDomain }),
      );
    });
  };

  before(async () => {
    mesh = new TestMesh();
    await mesh.startGlobal(LIFETIME);
    worker = await mesh.addWorkload('sdk-worker');
    await mesh.startRegional('eastus', LIFETIME);
    await mesh.startGateway('eastus');
    await mesh.start('storage', 'examples/storage/main.js', (port) => [
      '--listen', `127.0.0.1:${port}`, '--tenant', worker.tenantId, '--gateways', mesh.address('gateway-eastus'), '--clock-tolerance', '0s',
    ]);
    storage = new StorageServiceClient(mesh.address('storage'), credentials.createInsecure());
    const cache = new TokenCache({ expiryMarginMs: 500, retryBaseMs: 200, retryCapMs: 1000, onEvent: (e) => events.push(e) });
    credential = new CertificateCredential(worker.tenantId, worker.clientId, worker.privateKey, { endpoints: [mesh.address('gateway-eastus')], cache });
  });

  after(async () => {
    credential?.close();
    storage?.close();
    await mesh?.stop();
  });

  it('keeps reading until its token expires with the mesh dead, then fails with ERR_MESH_UNAVAILABLE, and recovers without a restart when the mesh returns', async () => {
    const first = await read();
    assert.ok(first.ok, first.message);
    assert.equal(first.faultDomain, 'regional/eastus');
    const held = await credential.getToken(SCOPE);

    await Promise.all(['gateway-eastus', 'regional-eastus', 'global'].map((n) => mesh.kill(n)));
    const killedAt = Date.now();
    let served = 0;
    let failure: ReadOutcome | undefined;
    let failedAt = 0;
    while (Date.now() - killedAt < 20_000) {
      const out = await read();
      if (!out.ok) {
        failure = out;
        failedAt = Date.now();
        break;
      }
      served += 1;
      await sleep(200);
    }
    const refreshFailures = events.filter((e) => e.type === 'fetch-failed' && e.background).length;
    console.log(`      mesh down: ${served} reads served by the held token over ${failedAt - killedAt} ms (token expired ${held.expiresOn - killedAt} ms after the kill); ${refreshFailures} background refreshes failed meanwhile`);
    console.log(`      then: ${failure?.code} "${failure?.message}"`);
    assert.ok(failure, 'the reads eventually failed');
    assert.equal(failure.code, 'ERR_MESH_UNAVAILABLE');
    assert.ok(served > 5, `reads served during the outage: ${served}`);
    assert.ok(refreshFailures >= 1, 'the refresh at refresh_in failed and the token kept serving');
    assert.ok(failedAt >= held.expiresOn - 1500, `failed ${held.expiresOn - failedAt} ms before expiry`);

    const restartAt = Date.now();
    await mesh.startGlobal(LIFETIME);
    await mesh.startRegional('eastus', LIFETIME);
    await mesh.startGateway('eastus');
    const upAt = Date.now();
    let back: ReadOutcome | undefined;
    while (Date.now() - upAt < 30_000) {
      back = await read();
      if (back.ok) break;
      await sleep(200);
    }
    console.log(`      mesh restarted in ${upAt - restartAt} ms; first successful read ${Date.now() - upAt} ms after it was serving, token from ${back?.faultDomain}`);
    assert.ok(back?.ok, `recovered: ${back?.message}`);
  });
});
