import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { status, type ChannelCredentials, type ClientReadableStream, type Metadata, type ServiceError } from '@grpc/grpc-js';
import { AdminServiceClient } from '../../../gen/authmesh/admin/v1/admin.js';
import { DirectoryServiceClient, type GetSnapshotResponse, type WatchResponse } from '../../../gen/authmesh/directory/v1/directory.js';
import { TokenServiceClient } from '../../../gen/authmesh/token/v1/token.js';
import { systemClock } from '../../../lib/clock/index.js';
import { loadMeshTls, meshChannelCredentials, meshChannelOptions, memberToken } from '../../../lib/grpc/index.js';
import { silentLogger } from '../../../lib/log/index.js';
import { createMeshCa, loadOrIssueMeshCert, type MeshCertFiles } from '../../../lib/tls/index.js';
import { DEFAULT_ISSUER } from '../../../lib/token/index.js';
import { startGlobal, type GlobalServer } from '../../../services/global/global-server.js';
import { bearer, call, callError, startTestGlobal, type TestGlobal } from '../../support/global-harness.js';

const RESOURCE = 'https://api.example';
const newJwk = (): string => JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }));

/** The kids of the JWK Set global's TokenService serves for `tenantId`. */
async function jwksKids(token: TokenServiceClient, tenantId: string, md?: Metadata): Promise<string[]> {
  const { jwksJson } = await call<{ jwksJson: string }>(token, 'getJwks', { tenantId }, md);
  return (JSON.parse(jwksJson) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
}

/** The first error of a watch stream (or undefined when it delivers a message first). */
function watchError(stream: ClientReadableStream<WatchResponse>): Promise<ServiceError | undefined> {
  return new Promise((resolve) => {
    stream.on('data', () => {
      stream.cancel();
      resolve(undefined);
    });
    stream.on('error', (e: ServiceError) => resolve(e));
  });
}

/**
 * Who may do what on DirectoryService, over real gRPC on loopback with real mesh certificates
 * from the dev CA: the caller's SPIFFE id decides the signing-key domain and the region, never
 * the request.
 */
describe('DirectoryService access by mesh identity (mutual TLS)', function () {
  this.timeout(30_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-dir-access-'));
  const caDir = path.join(dir, 'ca');
  const clients: { close(): void }[] = [];
  let server: GlobalServer;
  let tenantId = '';
  const appIds: string[] = [];

  const filesOf = (member: string): MeshCertFiles => loadOrIssueMeshCert(caDir, createMeshCa(caDir), member);
  const credsOf = (member: string): ChannelCredentials => meshChannelCredentials(loadMeshTls(filesOf(member)));
  const client = <C extends { close(): void }>(Ctor: new (address: string, creds: ChannelCredentials, options: object) => C, member: string): C => {
    const creds = credsOf(member);
    const c = new Ctor(server.address, creds, meshChannelOptions(server.address, creds));
    clients.push(c);
    return c;
  };
  const directoryAs = (member: string): DirectoryServiceClient => client(DirectoryServiceClient, member);
  const register = (member: string, domain: string, jwk = newJwk()) => call<{ kid: string; revision: number }>(directoryAs(member), 'registerSigningKey', { domain, publicJwkJson: jwk });
  const refusedRegistration = (member: string, domain: string, jwk = newJwk()) => callError(directoryAs(member), 'registerSigningKey', { domain, publicJwkJson: jwk });
  const activeKeys = async (): Promise<{ kid: string; domain: string }[]> => {
    const snap = await call<GetSnapshotResponse>(directoryAs('admin'), 'getSnapshot', { maxIdentities: 1 });
    return snap.signingKeys.filter((k) => k.retiredAtMs === 0);
  };
  const kidOf = async (jwk: string): Promise<string> => {
    const { calculateJwkThumbprint } = await import('jose');
    return calculateJwkThumbprint(JSON.parse(jwk) as never, 'sha256');
  };

  before(async () => {
    server = await startGlobal({
      listen: '127.0.0.1:0',
      dataDir: path.join(dir, 'global'),
      issuer: DEFAULT_ISSUER,
      tokenLifetimeMs: 3_600_000,
      watchHeartbeatMs: 5000,
      usageFlushMs: 50,
      snapshotIdentities: 5000,
      clock: systemClock,
      log: silentLogger(),
      tls: loadMeshTls(filesOf('global')),
    });
    const admin = client(AdminServiceClient, 'admin');
    ({ tenantId } = await call<{ tenantId: string }>(admin, 'createTenant', { name: 'contoso' }));
    await call(admin, 'createResource', { tenantId, identifier: RESOURCE, roles: ['read'] });
    for (const name of ['a', 'b']) appIds.push((await call<{ clientId: string }>(admin, 'createApp', { tenantId, name })).clientId);
  });

  after(async () => {
    for (const c of clients.splice(0)) c.close();
    await server?.stop(1000);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('RegisterSigningKey', () => {
    it("keeps global's key active in the JWK Set when a regional certificate tries to register a key as global", async () => {
      const jwk = newJwk();
      const err = await refusedRegistration('regional-eastus', 'global', jwk);
      assert.equal(err.code, status.PERMISSION_DENIED, err.details);
      assert.deepEqual(err.metadata.get('oauth-error'), ['unauthorized_client']);
      const kids = await jwksKids(client(TokenServiceClient, 'admin'), tenantId);
      assert.ok(kids.includes(server.signer.kid), "global's own key left the JWK Set");
      assert.ok(!kids.includes(await kidOf(jwk)), 'the forged key is in the JWK Set');
      assert.ok((await activeKeys()).some((k) => k.kid === server.signer.kid && k.domain === 'global'), "global's key was retired");
    });

    it('refuses a regional certificate registering a key for another region or for the backup', async () => {
      for (const domain of ['regional/westus', 'backup']) {
        const jwk = newJwk();
        const err = await refusedRegistration('regional-eastus', domain, jwk);
        assert.equal(err.code, status.PERMISSION_DENIED, `${domain}: ${err.details}`);
        assert.ok(!(await jwksKids(client(TokenServiceClient, 'admin'), tenantId)).includes(await kidOf(jwk)), `${domain} key published`);
      }
    });

    it('refuses a gateway certificate registering a key for any domain', async () => {
      for (const domain of ['global', 'regional/eastus', 'backup']) {
        const err = await refusedRegistration('gateway-eastus', domain);
        assert.equal(err.code, status.PERMISSION_DENIED, `${domain}: ${err.details}`);
      }
      assert.ok((await activeKeys()).every((k) => k.domain !== 'regional/eastus' && k.domain !== 'backup'));
    });

    it("refuses global's own certificate registering over the API (global publishes its keys in-process)", async () => {
      const err = await refusedRegistration('global', 'global');
      assert.equal(err.code, status.PERMISSION_DENIED, err.details);
      assert.ok((await activeKeys()).some((k) => k.kid === server.signer.kid));
    });

    it("publishes a regional's key for its own region, and its next key retires only that region's previous key", async () => {
      const first = await register('regional-eastus', 'regional/eastus');
      const backup = await register('backup', 'backup');
      const second = await register('regional-eastus', 'regional/eastus');
      const active = (await activeKeys()).map((k) => k.kid);
      assert.ok(active.includes(second.kid) && active.includes(backup.kid) && active.includes(server.signer.kid), active.join(', '));
      assert.ok(!active.includes(first.kid), "the region's previous key is still active");
      const kids = await jwksKids(client(TokenServiceClient, 'admin'), tenantId);
      assert.ok(kids.includes(first.kid) && kids.includes(second.kid), 'a retired key stays published until its tokens expire');
    });
  });

  describe('per-member rights', () => {
    it('lets the backup certificate register only its own key, and nothing else', async () => {
      const backup = directoryAs('backup');
      assert.equal((await refusedRegistration('backup', 'regional/eastus')).code, status.PERMISSION_DENIED);
      for (const [method, request] of [
        ['getSnapshot', { region: 'eastus' }],
        ['lookupIdentity', { tenantId, clientId: appIds[0]!, region: 'eastus' }],
        ['reportUsage', { region: 'eastus', entries: [{ tenantId, clientId: appIds[0]!, authenticatedAtMs: Date.now() }] }],
      ] as const) {
        const err = await callError(backup, method, request);
        assert.equal(err.code, status.PERMISSION_DENIED, `${method}: ${err.details}`);
      }
      const err = await watchError(backup.watch({ fromRevision: 0 }));
      assert.equal(err?.code, status.PERMISSION_DENIED);
    });

    it('refuses admin registering keys or reporting usage (it reads only)', async () => {
      assert.equal((await refusedRegistration('admin', 'backup')).code, status.PERMISSION_DENIED);
      const err = await callError(directoryAs('admin'), 'reportUsage', { region: 'eastus', entries: [] });
      assert.equal(err.code, status.PERMISSION_DENIED);
    });
  });

  describe('region of the caller', () => {
    it('refuses a regional reporting usage for another region, which would widen what that region and the backup cover', async () => {
      const [a] = appIds;
      const err = await callError(directoryAs('regional-eastus'), 'reportUsage', {
        region: 'westus',
        entries: [{ tenantId, clientId: a!, authenticatedAtMs: Date.now() }],
      });
      assert.equal(err.code, status.PERMISSION_DENIED, err.details);
      // Two apps, snapshot of one: the identities westus used; none were.
      const snap = await call<GetSnapshotResponse>(directoryAs('admin'), 'getSnapshot', { region: 'westus', maxIdentities: 1 });
      assert.deepEqual(snap.identities.map((i) => i.clientId), []);
    });

    it("records a regional's own usage under its region", async () => {
      const [, b] = appIds;
      await call(directoryAs('regional-westus'), 'reportUsage', { region: 'westus', entries: [{ tenantId, clientId: b!, authenticatedAtMs: Date.now() }] });
      const snap = await call<GetSnapshotResponse>(directoryAs('admin'), 'getSnapshot', { region: 'westus', maxIdentities: 1 });
      assert.deepEqual(snap.identities.map((i) => i.clientId), [b]);
    });

    it("refuses a regional's lookups and snapshots for another region", async () => {
      const eastus = directoryAs('regional-eastus');
      const lookup = await callError(eastus, 'lookupIdentity', { tenantId, clientId: appIds[0]!, region: 'westus' });
      assert.equal(lookup.code, status.PERMISSION_DENIED);
      const snapshot = await callError(eastus, 'getSnapshot', { region: 'westus', maxIdentities: 1 });
      assert.equal(snapshot.code, status.PERMISSION_DENIED);
      const own = await call<GetSnapshotResponse>(eastus, 'getSnapshot', { region: 'eastus', maxIdentities: 1 });
      assert.ok(own.revision > 0);
    });
  });
});

/** The same rules in development mode, where per-member bearer tokens stand in for certificates. */
describe('DirectoryService access by mesh identity (development tokens)', () => {
  let g: TestGlobal;
  let tenantId = '';
  const register = (token: string, domain: string, jwk = newJwk()) =>
    callError(g.directory, 'registerSigningKey', { domain, publicJwkJson: jwk }, bearer(token));

  before(async () => {
    g = await startTestGlobal();
    ({ tenantId } = await call<{ tenantId: string }>(g.admin, 'createTenant', { name: 'contoso' }, g.adminAuth));
  });

  after(async () => {
    await g?.close();
  });

  it("keeps global's key in the JWK Set when a regional's token tries to register a key as global or another region", async () => {
    const eastus = g.server.memberToken('regional-eastus');
    for (const domain of ['global', 'regional/westus']) {
      const err = await register(eastus, domain);
      assert.equal(err.code, status.PERMISSION_DENIED, `${domain}: ${err.details}`);
    }
    const kids = await jwksKids(g.token, tenantId);
    assert.deepEqual(kids, [g.server.signer.kid]);
  });

  it('refuses the shared mesh token every gateway holds registering any key', async () => {
    for (const domain of ['global', 'regional/eastus', 'backup']) {
      const err = await register(g.server.meshToken, domain);
      assert.equal(err.code, status.PERMISSION_DENIED, `${domain}: ${err.details}`);
    }
    assert.deepEqual(await jwksKids(g.token, tenantId), [g.server.signer.kid]);
  });

  it("refuses a member token rewritten to name another member, or minted under another key", async () => {
    const eastus = g.server.memberToken('regional-eastus');
    const renamed = eastus.replace('regional-eastus', 'regional-westus');
    const foreign = memberToken('not-global-s-key', 'regional-westus');
    for (const token of [renamed, foreign]) {
      const err = await register(token, 'regional/westus');
      assert.equal(err.code, status.UNAUTHENTICATED, err.details);
    }
  });

  it('publishes the key of a regional registering for its own region with its own token', async () => {
    const { kid } = await call<{ kid: string }>(g.directory, 'registerSigningKey', { domain: 'regional/westus', publicJwkJson: newJwk() }, bearer(g.server.memberToken('regional-westus')));
    assert.deepEqual(new Set(await jwksKids(g.token, tenantId)), new Set([g.server.signer.kid, kid]));
  });
});
