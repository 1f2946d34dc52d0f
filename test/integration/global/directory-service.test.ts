import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { status, type ClientReadableStream, type Metadata, type ServiceError } from '@grpc/grpc-js';
import type { GetSnapshotResponse, LookupIdentityResponse, WatchResponse } from '../../../gen/authmesh/directory/v1/directory.js';
import { bearer, call, callError, startTestGlobal, type TestGlobal } from '../../support/global-harness.js';

const RESOURCE = 'https://api.example';

/** Reads a watch stream, collecting messages, until `done` says so or the stream fails. */
class WatchReader {
  readonly messages: WatchResponse[] = [];
  error: ServiceError | undefined;
  private waiters: (() => void)[] = [];

  constructor(readonly stream: ClientReadableStream<WatchResponse>) {
    stream.on('data', (m: WatchResponse) => {
      this.messages.push(m);
      this.wake();
    });
    stream.on('error', (e: ServiceError) => {
      this.error = e;
      this.wake();
    });
  }

  get changes(): WatchResponse[] {
    return this.messages.filter((m) => m.identity || m.tenant || m.signingKeys || m.identityRemoved);
  }

  async until(done: () => boolean, timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (this.error !== undefined) throw this.error;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`watch condition not met; got ${this.messages.length} messages`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  cancel(): void {
    this.stream.cancel();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

describe('DirectoryService', () => {
  let g: TestGlobal;
  let tenantId: string;
  let clientId: string;
  const readers: WatchReader[] = [];

  const watch = (fromRevision: number, md: Metadata = g.meshAuth): WatchReader => {
    const r = new WatchReader(g.directory.watch({ fromRevision }, md));
    readers.push(r);
    return r;
  };

  before(async () => {
    g = await startTestGlobal({ heartbeatMs: 100 });
    ({ tenantId } = await call<{ tenantId: string }>(g.admin, 'createTenant', { name: 'contoso' }, g.adminAuth));
    ({ clientId } = await call<{ clientId: string }>(g.admin, 'createApp', { tenantId, name: 'billing' }, g.adminAuth));
    await call(g.admin, 'createResource', { tenantId, identifier: RESOURCE, roles: ['read'] }, g.adminAuth);
    await call(g.admin, 'grantRole', { tenantId, clientId, resource: RESOURCE, role: 'read' }, g.adminAuth);
  });

  afterEach(() => {
    for (const r of readers.splice(0)) r.cancel();
  });

  after(async () => {
    await g.close();
  });

  describe('mesh token', () => {
    it('answers UNAUTHENTICATED when a unary call has no token', async () => {
      const err = await callError(g.directory, 'lookupIdentity', { tenantId, clientId });
      assert.equal(err.code, status.UNAUTHENTICATED);
    });

    it('answers UNAUTHENTICATED when a watch has a wrong token', async () => {
      const r = watch(0, bearer('wrong-token-wrong-token-wrong-token'));
      await assert.rejects(r.until(() => false), (e: ServiceError) => e.code === status.UNAUTHENTICATED);
      assert.equal(r.messages.length, 0);
    });

    it('accepts the admin token as well when it is presented', async () => {
      const res = await call<LookupIdentityResponse>(g.directory, 'lookupIdentity', { tenantId, clientId }, g.adminAuth);
      assert.equal(res.identity?.clientId, clientId);
    });
  });

  describe('GetSnapshot', () => {
    it('returns tenants, identities and signing keys at the head revision when the directory is small', async () => {
      const snap = await call<GetSnapshotResponse>(g.directory, 'getSnapshot', { region: 'eastus' }, g.meshAuth);
      assert.equal(snap.revision, (await g.server.store.head()));
      assert.deepEqual(snap.tenants.map((t) => t.tenantId), [tenantId]);
      assert.deepEqual(snap.tenants[0]!.resources, [{ identifier: RESOURCE, roles: ['read'] }]);
      assert.deepEqual(snap.identities.map((i) => i.clientId), [clientId]);
      assert.deepEqual(snap.identities[0]!.grants, [{ resource: RESOURCE, role: 'read' }]);
      assert.ok(snap.signingKeys.some((k) => k.domain === 'global' && k.kid === g.server.signer.kid));
    });

    it('answers INVALID_ARGUMENT when the region is malformed', async () => {
      const err = await callError(g.directory, 'getSnapshot', { region: 'East US!' }, g.meshAuth);
      assert.equal(err.code, status.INVALID_ARGUMENT);
    });
  });

  describe('LookupIdentity', () => {
    it('returns the identity with its tenant and the head revision when the client exists', async () => {
      const res = await call<LookupIdentityResponse>(g.directory, 'lookupIdentity', { tenantId, clientId, region: 'eastus' }, g.meshAuth);
      assert.equal(res.tenant?.tenantId, tenantId);
      assert.equal(res.identity?.clientId, clientId);
      assert.equal(res.revision, (await g.server.store.head()));
    });

    it('leaves identity unset when the client is unknown', async () => {
      const res = await call<LookupIdentityResponse>(g.directory, 'lookupIdentity', { tenantId, clientId: 'nobody' }, g.meshAuth);
      assert.equal(res.tenant?.tenantId, tenantId);
      assert.equal(res.identity, undefined);
    });

    it('leaves tenant unset when the tenant is unknown', async () => {
      const res = await call<LookupIdentityResponse>(g.directory, 'lookupIdentity', { tenantId: 'nope', clientId }, g.meshAuth);
      assert.equal(res.tenant, undefined);
      assert.equal(res.identity, undefined);
    });
  });

  describe('Watch', () => {
    it('replays every change after from_revision in order when it starts behind the head', async () => {
      const head = (await g.server.store.head());
      const r = watch(0);
      await r.until(() => r.changes.length === head);
      assert.deepEqual(r.changes.map((m) => m.revision), Array.from({ length: head }, (_, i) => i + 1));
      const last = r.changes.at(-1)!;
      assert.equal(last.identity?.clientId, clientId);
      assert.deepEqual(last.identity?.grants, [{ resource: RESOURCE, role: 'read' }]);
    });

    it('streams a change with the current identity state when a mutation commits', async () => {
      const head = (await g.server.store.head());
      const r = watch(head);
      await r.until(() => r.messages.length > 0);
      const { revision } = await call<{ revision: number }>(g.admin, 'setAppEnabled', { tenantId, clientId, enabled: false }, g.adminAuth);
      await r.until(() => r.changes.some((m) => m.revision === revision));
      const change = r.changes.find((m) => m.revision === revision)!;
      assert.equal(change.identity?.enabled, false);
      assert.ok(change.identity!.postureChangedAtMs > 0);
      await call(g.admin, 'setAppEnabled', { tenantId, clientId, enabled: true }, g.adminAuth);
    });

    it('sends heartbeats carrying the head revision when the stream is idle', async () => {
      const head = (await g.server.store.head());
      const r = watch(head);
      await r.until(() => r.messages.length >= 3);
      for (const m of r.messages) {
        assert.equal(m.headRevision, head);
        assert.equal(m.identity, undefined);
      }
    });

    it('streams a signing key set when a fault domain registers its key', async () => {
      const r = watch((await g.server.store.head()));
      const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
      const res = await call<{ kid: string; revision: number }>(
        g.directory,
        'registerSigningKey',
        { domain: 'regional/eastus', publicJwkJson: JSON.stringify(jwk) },
        g.meshAuth,
      );
      await r.until(() => r.changes.some((m) => m.revision === res.revision));
      const keys = r.changes.find((m) => m.revision === res.revision)!.signingKeys!.keys;
      assert.ok(keys.some((k) => k.kid === res.kid && k.domain === 'regional/eastus'));
      const again = await call<{ kid: string; revision: number }>(
        g.directory,
        'registerSigningKey',
        { domain: 'regional/eastus', publicJwkJson: JSON.stringify(jwk) },
        g.meshAuth,
      );
      assert.deepEqual(again, res, 'registering the same key again is idempotent');
    });

    it('answers OUT_OF_RANGE when from_revision is older than the compacted log', async () => {
      await call(g.admin, 'createApp', { tenantId, name: 'after-compaction' }, g.adminAuth);
      const { compactedThrough } = await call<{ compactedThrough: number }>(g.admin, 'compactChangeLog', { retain: 1 }, g.adminAuth);
      assert.ok(compactedThrough > 1);
      const r = watch(compactedThrough - 1);
      await assert.rejects(r.until(() => false), (e: ServiceError) => e.code === status.OUT_OF_RANGE);
      const ok = watch(compactedThrough);
      await ok.until(() => ok.changes.length === 1);
      assert.equal(ok.changes[0]!.revision, compactedThrough + 1);
    });
  });

  describe('RegisterSigningKey', () => {
    it('answers INVALID_ARGUMENT when the JWK carries private key material', async () => {
      const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
      const err = await callError(g.directory, 'registerSigningKey', { domain: 'regional/eastus', publicJwkJson: JSON.stringify(jwk) }, g.meshAuth);
      assert.equal(err.code, status.INVALID_ARGUMENT);
      assert.match(err.details, /private/);
    });

    it('answers INVALID_ARGUMENT for RSA keys under 2048 bits or with a small exponent, and publishes a 2048-bit one', async () => {
      const rsa = (modulusLength: number, publicExponent = 65537): string =>
        JSON.stringify(generateKeyPairSync('rsa', { modulusLength, publicExponent }).publicKey.export({ format: 'jwk' }));
      for (const [jwk, why] of [[rsa(1024), /2048 to 8192 bits \(this one has 1024\)/], [rsa(2040), /this one has 2040/], [rsa(2048, 3), /exponent/]] as const) {
        const err = await callError(g.directory, 'registerSigningKey', { domain: 'regional/eastus', publicJwkJson: jwk }, g.meshAuth);
        assert.equal(err.code, status.INVALID_ARGUMENT);
        assert.match(err.details, why);
      }
      const ok = await call<{ kid: string }>(g.directory, 'registerSigningKey', { domain: 'regional/eastus', publicJwkJson: rsa(2048) }, g.meshAuth);
      const { jwksJson } = await call<{ jwksJson: string }>(g.token, 'getJwks', { tenantId });
      assert.ok((JSON.parse(jwksJson) as { keys: { kid: string }[] }).keys.some((k) => k.kid === ok.kid));
    });

    it('answers INVALID_ARGUMENT for EC keys off P-256 and for an alg that does not fit the key', async () => {
      const ec = (namedCurve: string): Record<string, unknown> => generateKeyPairSync('ec', { namedCurve }).publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
      // A P-384 key that claims to be P-256 fails to parse; an honest P-384 or secp256k1 key is refused by name.
      for (const jwk of [ec('P-384'), ec('secp256k1'), { ...ec('P-384'), crv: 'P-256' }, { ...ec('P-256'), alg: 'HS256' }, { ...ec('P-256'), alg: 'RS256' }]) {
        const err = await callError(g.directory, 'registerSigningKey', { domain: 'regional/eastus', publicJwkJson: JSON.stringify(jwk) }, g.meshAuth);
        assert.equal(err.code, status.INVALID_ARGUMENT, JSON.stringify(jwk));
      }
    });

    it('answers INVALID_ARGUMENT when the domain is unknown', async () => {
      const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
      const err = await callError(g.directory, 'registerSigningKey', { domain: 'mars', publicJwkJson: JSON.stringify(jwk) }, g.meshAuth);
      assert.equal(err.code, status.INVALID_ARGUMENT);
    });
  });

  describe('ReportUsage', () => {
    it('records the last authentication of an identity when a region reports it', async () => {
      const at = Date.now() - 1000;
      await call(g.directory, 'reportUsage', { region: 'eastus', entries: [{ tenantId, clientId, authenticatedAtMs: at }] }, g.meshAuth);
      assert.ok((await g.server.store.identity(tenantId, clientId))!.lastAuthenticatedAtMs >= at);
    });
  });
});
