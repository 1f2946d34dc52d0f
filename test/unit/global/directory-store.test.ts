import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ManualClock } from '../../../lib/clock/index.js';
import { USAGE_PRECISION_MS } from '../../../lib/directory/index.js';
import { DirectoryStore } from '../../../services/global/store/directory-store.js';
import { DirectoryError } from '../../../services/global/store/directory-error.js';

const JWK = JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' });

function rejectsWith(code: DirectoryError['code'], fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof DirectoryError && err.code === code);
}

describe('DirectoryStore', () => {
  let dir: string;
  let file: string;
  let clock: ManualClock;
  let store: DirectoryStore;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-store-'));
    file = path.join(dir, 'directory.db');
    clock = new ManualClock();
    store = DirectoryStore.open(file, clock);
  });

  afterEach(() => {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A tenant with one app and one resource `https://api.example` with roles read, write. */
  function seed(): { tenantId: string; clientId: string } {
    const { tenantId } = store.createTenant('contoso');
    const { clientId } = store.createApp(tenantId, 'billing');
    store.createResource(tenantId, 'https://api.example', ['read', 'write']);
    return { tenantId, clientId };
  }

  it('opens the database in WAL mode when created', () => {
    const db = new Database(file, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      db.close();
    }
  });

  it('stamps each mutation with the next revision and logs it when mutations succeed', () => {
    const { tenantId, clientId } = seed();
    store.grantRole(tenantId, clientId, 'https://api.example', 'read');
    const revisions = store.changesAfter(0, 100).map((c) => c.revision);
    assert.deepEqual(revisions, [1, 2, 3, 4]);
    assert.equal(store.log.head(), 4);
    assert.deepEqual(
      store.changesAfter(0, 100).map((c) => c.kind),
      ['tenant', 'identity', 'tenant', 'identity'],
    );
  });

  it('leaves no revision gap when a mutation is refused', () => {
    const { tenantId } = seed();
    rejectsWith('already_exists', () => store.createApp(tenantId, 'billing'));
    rejectsWith('already_exists', () => store.createTenant('contoso'));
    const next = store.createApp(tenantId, 'payroll');
    assert.equal(next.revision, 4);
    assert.deepEqual(store.changesAfter(0, 100).map((c) => c.revision), [1, 2, 3, 4]);
  });

  it('keeps every acknowledged mutation when the store is reopened', () => {
    const { tenantId, clientId } = seed();
    store.addCertificateCredential(tenantId, clientId, { keyId: 'k1', publicJwkJson: JWK, x5tS256: '', notBefore: 0, notAfter: 0 });
    store.close();
    store = DirectoryStore.open(file, clock);
    const identity = store.identity(tenantId, clientId)!;
    assert.equal(identity.name, 'billing');
    assert.deepEqual(identity.credentials.map((c) => c.keyId), ['k1']);
    assert.equal(store.log.head(), 4);
    assert.equal(store.createApp(tenantId, 'other').revision, 5);
  });

  it('answers not_found when the tenant, app, resource or role is unknown', () => {
    const { tenantId, clientId } = seed();
    const ghost = '00000000-0000-4000-8000-000000000000';
    rejectsWith('not_found', () => store.createApp(ghost, 'x'));
    rejectsWith('not_found', () => store.setAppEnabled(tenantId, ghost, false));
    rejectsWith('not_found', () => store.grantRole(tenantId, clientId, 'https://nope.example', 'read'));
    rejectsWith('not_found', () => store.grantRole(tenantId, clientId, 'https://api.example', 'admin'));
    rejectsWith('not_found', () => store.revokeRole(tenantId, clientId, 'https://api.example', 'read'));
    rejectsWith('not_found', () => store.removeCredential(tenantId, clientId, 'missing'));
  });

  it('answers already_exists when a resource, grant or key id is duplicated', () => {
    const { tenantId, clientId } = seed();
    rejectsWith('already_exists', () => store.createResource(tenantId, 'https://api.example', []));
    store.grantRole(tenantId, clientId, 'https://api.example', 'read');
    rejectsWith('already_exists', () => store.grantRole(tenantId, clientId, 'https://api.example', 'read'));
    const secret = { keyId: 's1', secretHash: 'sha256$a$b', notBefore: 0, notAfter: 0 };
    store.addSecretCredential(tenantId, clientId, secret);
    rejectsWith('already_exists', () => store.addSecretCredential(tenantId, clientId, secret));
  });

  it('sets posture_changed_at_ms when an app is disabled, a credential removed or a role revoked', () => {
    const { tenantId, clientId } = seed();
    store.grantRole(tenantId, clientId, 'https://api.example', 'read');
    store.addSecretCredential(tenantId, clientId, { keyId: 's1', secretHash: 'h', notBefore: 0, notAfter: 0 });
    assert.equal(store.identity(tenantId, clientId)!.postureChangedAtMs, 0);

    clock.advance(1000);
    store.setAppEnabled(tenantId, clientId, false);
    assert.equal(store.identity(tenantId, clientId)!.postureChangedAtMs, clock.now());
    assert.equal(store.identity(tenantId, clientId)!.enabled, false);

    clock.advance(1000);
    store.removeCredential(tenantId, clientId, 's1');
    assert.equal(store.identity(tenantId, clientId)!.postureChangedAtMs, clock.now());

    clock.advance(1000);
    store.revokeRole(tenantId, clientId, 'https://api.example', 'read');
    const identity = store.identity(tenantId, clientId)!;
    assert.equal(identity.postureChangedAtMs, clock.now());
    assert.deepEqual(identity.grants, []);
  });

  it('publishes a signing key once and retires the previous key of the domain when a new one registers', () => {
    const first = store.registerSigningKey('kid-1', 'regional/eastus', JWK);
    const again = store.registerSigningKey('kid-1', 'regional/eastus', JWK);
    assert.equal(first.created, true);
    assert.equal(again.created, false);
    assert.equal(again.revision, first.revision);
    clock.advance(5000);
    store.registerSigningKey('kid-2', 'regional/eastus', JWK);
    const keys = store.signingKeys();
    assert.deepEqual(keys.map((k) => [k.kid, k.retiredAtMs]), [
      ['kid-1', clock.now()],
      ['kid-2', 0],
    ]);
    rejectsWith('already_exists', () => store.registerSigningKey('kid-2', 'backup', JWK));
  });

  it('records compacted_through and keeps the revision counter when the log is compacted', () => {
    seed();
    assert.equal(store.compactChangeLog(1), 2);
    assert.equal(store.log.compactedThrough(), 2);
    assert.deepEqual(store.changesAfter(0, 100).map((c) => c.revision), [3]);
    assert.equal(store.compactChangeLog(0), 3);
    assert.equal(store.log.head(), 3);
    assert.equal(store.createTenant('fabrikam').revision, 4);
    // Compaction never moves backwards.
    assert.equal(store.compactChangeLog(100), 3);
  });

  it('returns every identity in a snapshot when the directory is small', () => {
    const { tenantId } = seed();
    store.createApp(tenantId, 'payroll');
    const snapshot = store.snapshot('eastus', 10);
    assert.equal(snapshot.revision, store.log.head());
    assert.equal(snapshot.identities.length, 2);
    assert.deepEqual(snapshot.tenants[0]!.resources, [{ identifier: 'https://api.example', roles: ['read', 'write'] }]);
  });

  it('returns the identities most recently used in the region when the directory is larger than the limit', () => {
    const { tenantId, clientId } = seed();
    const apps = ['a', 'b', 'c'].map((name) => store.createApp(tenantId, name).clientId);
    store.recordUsage([
      { tenantId, clientId: apps[0]!, region: 'eastus', atMs: 100, authenticated: true },
      { tenantId, clientId: apps[1]!, region: 'eastus', atMs: 300, authenticated: false },
      { tenantId, clientId, region: 'westus', atMs: 500, authenticated: true },
    ]);
    const snapshot = store.snapshot('eastus', 2);
    assert.deepEqual(snapshot.identities.map((i) => i.clientId), [apps[1], apps[0]]);
    assert.equal(store.identity(tenantId, apps[0]!)!.lastAuthenticatedAtMs, 100);
    assert.equal(store.identity(tenantId, apps[1]!)!.lastAuthenticatedAtMs, 0);
  });

  it('ignores usage of unknown identities and keeps the newest time when usage is recorded', () => {
    const { tenantId, clientId } = seed();
    store.recordUsage([
      { tenantId, clientId, region: 'eastus', atMs: 500, authenticated: true },
      { tenantId, clientId, region: 'eastus', atMs: 200, authenticated: true },
      { tenantId, clientId: 'ghost', region: 'eastus', atMs: 900, authenticated: true },
    ]);
    assert.equal(store.identity(tenantId, clientId)!.lastAuthenticatedAtMs, 500);
    assert.equal(store.log.head(), 3, 'usage is not a mutation');
  });

  it('writes a newer usage time only once it is the usage precision past the stored one', () => {
    const { tenantId, clientId } = seed();
    const other = store.createApp(tenantId, 'other').clientId;
    const use = (app: string, atMs: number): void => store.recordUsage([{ tenantId, clientId: app, region: 'eastus', atMs, authenticated: true }]);
    use(clientId, 1_000_000);
    use(other, 1_000_500);
    use(clientId, 1_000_000 + USAGE_PRECISION_MS - 1);
    assert.equal(store.identity(tenantId, clientId)!.lastAuthenticatedAtMs, 1_000_000, 'within the precision: not written');
    assert.deepEqual(store.snapshot('eastus', 1).identities.map((i) => i.clientId), [other], 'the usage row kept its time too');
    use(clientId, 1_000_000 + USAGE_PRECISION_MS);
    assert.equal(store.identity(tenantId, clientId)!.lastAuthenticatedAtMs, 1_000_000 + USAGE_PRECISION_MS);
    assert.deepEqual(store.snapshot('eastus', 1).identities.map((i) => i.clientId), [clientId]);
  });

  it('calls commit listeners with the revision when a mutation commits', () => {
    const seen: number[] = [];
    store.onCommit((r) => seen.push(r));
    seed();
    rejectsWith('already_exists', () => store.createTenant('contoso'));
    assert.deepEqual(seen, [1, 2, 3]);
  });
});
