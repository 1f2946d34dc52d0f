import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { AppInfo, ResourceInfo } from '../../../gen/authmesh/admin/v1/admin.js';
import type { WatchResponse } from '../../../gen/authmesh/directory/v1/directory.js';
import { bearer, call, callError, startTestGlobal, type TestGlobal } from '../../support/global-harness.js';
import { createDatabase, startPostgres, type PostgresServer } from '../../support/postgres-server.js';

const publicKeyPem = (): string => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();

/** Every message of global's change feed from revision 0 up to the head. */
function feed(g: TestGlobal): Promise<WatchResponse[]> {
  return new Promise((resolve, reject) => {
    const seen: WatchResponse[] = [];
    const stream = g.directory.watch({ fromRevision: 0 }, g.meshAuth);
    const timer = setTimeout(() => reject(new Error('the watch did not reach the head')), 10_000);
    stream.on('data', (m: WatchResponse) => {
      if (m.identity || m.tenant || m.signingKeys || m.identityRemoved) seen.push(m);
      else if (m.revision === m.headRevision) {
        clearTimeout(timer);
        stream.cancel();
        resolve(seen);
      }
    });
    stream.on('error', (e: ServiceError) => {
      if (e.code !== status.CANCELLED) reject(e);
    });
  });
}

interface Engine {
  name: string;
  start(): Promise<TestGlobal>;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
}

const sqlite: Engine = { name: 'sqlite', start: () => startTestGlobal(), setUp: () => Promise.resolve(), tearDown: () => Promise.resolve() };
const postgres = (): Engine => {
  let server: PostgresServer | undefined;
  let n = 0;
  return {
    name: 'postgres',
    setUp: async () => {
      server = await startPostgres();
    },
    tearDown: async () => server?.stop(),
    start: async () => startTestGlobal({ store: await createDatabase(server!, `ld${++n}`), storePasswordFile: server!.passwordFile }),
  };
};

for (const engine of [sqlite, postgres()]) {
  describe(`AdminService list and delete on ${engine.name}`, function () {
    this.timeout(30_000);
    let g: TestGlobal;
    let tenantId: string;

    before(() => engine.setUp());
    after(() => engine.tearDown());
    beforeEach(async () => {
      g = await engine.start();
      ({ tenantId } = await call<{ tenantId: string }>(g.admin, 'createTenant', { name: 'contoso' }, g.adminAuth));
      await call(g.admin, 'createResource', { tenantId, identifier: 'https://orders.example', roles: ['Orders.Read', 'Orders.Write'] }, g.adminAuth);
    });
    afterEach(() => g.close());

    it('lists the applications of a tenant by name, without any credential material', async () => {
      const a = await call<{ clientId: string }>(g.admin, 'createApp', { tenantId, name: 'billing' }, g.adminAuth);
      await call(g.admin, 'createApp', { tenantId, name: 'shipping' }, g.adminAuth);
      const { secret } = await call<{ secret: string }>(g.admin, 'addSecretCredential', { tenantId, clientId: a.clientId }, g.adminAuth);
      await call(g.admin, 'setAppEnabled', { tenantId, clientId: a.clientId, enabled: false }, g.adminAuth);
      const { apps } = await call<{ apps: AppInfo[] }>(g.admin, 'listApps', { tenantId }, g.adminAuth);
      assert.deepEqual(apps.map((x) => [x.name, x.enabled]), [['billing', false], ['shipping', true]]);
      assert.equal(apps[0]!.clientId, a.clientId);
      assert.ok(!JSON.stringify(apps).includes(secret));
    });

    it('lists the resources of a tenant with their roles', async () => {
      const { resources } = await call<{ resources: ResourceInfo[] }>(g.admin, 'listResources', { tenantId }, g.adminAuth);
      assert.deepEqual(resources, [{ identifier: 'https://orders.example', roles: ['Orders.Read', 'Orders.Write'] }]);
    });

    it('answers NOT_FOUND when listing the applications of an unknown tenant', async () => {
      const err = await callError(g.admin, 'listApps', { tenantId: '00000000-0000-4000-8000-000000000000' }, g.adminAuth);
      assert.equal(err.code, status.NOT_FOUND);
    });

    it('deletes an application with its credentials and grants, and the change feed says it was removed', async () => {
      const { clientId } = await call<{ clientId: string }>(g.admin, 'createApp', { tenantId, name: 'billing' }, g.adminAuth);
      await call(g.admin, 'addCertificateCredential', { tenantId, clientId, pem: publicKeyPem() }, g.adminAuth);
      await call(g.admin, 'grantRole', { tenantId, clientId, resource: 'https://orders.example', role: 'Orders.Read' }, g.adminAuth);
      const { revision } = await call<{ revision: number }>(g.admin, 'deleteApp', { tenantId, clientId }, g.adminAuth);
      assert.equal((await callError(g.admin, 'getApp', { tenantId, clientId }, g.adminAuth)).code, status.NOT_FOUND);
      assert.deepEqual((await call<{ apps: AppInfo[] }>(g.admin, 'listApps', { tenantId }, g.adminAuth)).apps, []);
      const last = (await feed(g)).filter((m) => m.identityRemoved?.clientId === clientId || m.identity?.clientId === clientId).at(-1);
      assert.equal(last?.revision, revision);
      assert.deepEqual(last?.identityRemoved, { tenantId, clientId });
      // The resource it was granted is free again: nothing refers to it any more.
      await call(g.admin, 'deleteResource', { tenantId, identifier: 'https://orders.example' }, g.adminAuth);
      assert.equal((await callError(g.admin, 'deleteApp', { tenantId, clientId }, g.adminAuth)).code, status.NOT_FOUND);
    });

    it('refuses to delete a resource with FAILED_PRECONDITION while an application holds a role on it', async () => {
      const { clientId } = await call<{ clientId: string }>(g.admin, 'createApp', { tenantId, name: 'billing' }, g.adminAuth);
      await call(g.admin, 'grantRole', { tenantId, clientId, resource: 'https://orders.example', role: 'Orders.Read' }, g.adminAuth);
      const err = await callError(g.admin, 'deleteResource', { tenantId, identifier: 'https://orders.example' }, g.adminAuth);
      assert.equal(err.code, status.FAILED_PRECONDITION);
      assert.match(err.details, /revoke/);
      await call(g.admin, 'revokeRole', { tenantId, clientId, resource: 'https://orders.example', role: 'Orders.Read' }, g.adminAuth);
      const { revision } = await call<{ revision: number }>(g.admin, 'deleteResource', { tenantId, identifier: 'https://orders.example' }, g.adminAuth);
      assert.deepEqual((await call<{ resources: ResourceInfo[] }>(g.admin, 'listResources', { tenantId }, g.adminAuth)).resources, []);
      const tenantChange = (await feed(g)).find((m) => m.revision === revision);
      assert.deepEqual(tenantChange?.tenant?.resources, [], 'regional caches get the tenant without the resource');
    });

    it('answers UNAUTHENTICATED to list and delete calls without the admin token, and deletes nothing', async () => {
      const { clientId } = await call<{ clientId: string }>(g.admin, 'createApp', { tenantId, name: 'billing' }, g.adminAuth);
      for (const [method, req] of [
        ['listApps', { tenantId }],
        ['listResources', { tenantId }],
        ['deleteApp', { tenantId, clientId }],
        ['deleteResource', { tenantId, identifier: 'https://orders.example' }],
      ] as const) {
        assert.equal((await callError(g.admin, method, req, bearer(g.server.meshToken))).code, status.UNAUTHENTICATED, method);
      }
      assert.equal((await call<{ apps: AppInfo[] }>(g.admin, 'listApps', { tenantId }, g.adminAuth)).apps.length, 1);
      assert.equal((await call<{ resources: ResourceInfo[] }>(g.admin, 'listResources', { tenantId }, g.adminAuth)).resources.length, 1);
    });
  });
}
