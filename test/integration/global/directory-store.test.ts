import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ManualClock } from '../../../lib/clock/index.js';
import { USAGE_PRECISION_MS } from '../../../lib/directory/index.js';
import { silentLogger } from '../../../lib/log/index.js';
import { DirectoryError } from '../../../services/global/store/directory-error.js';
import { openStore } from '../../../services/global/store/open-store.js';
import type { DirectoryStore } from '../../../services/global/store/store.js';
import { createDatabase, startPostgres, type PostgresServer } from '../../support/postgres-server.js';

const JWK = JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' });

async function rejectsWith(code: DirectoryError['code'], fn: () => Promise<unknown>): Promise<void> {
  await assert.rejects(fn, (err: unknown) => err instanceof DirectoryError && err.code === code);
}

/** How a test gets a fresh store of one engine, and reopens the same one. */
interface EngineFixture {
  name: string;
  setUp(): Promise<void>;
  tearDown(): Promise<void>;
  /** A new, empty store location. */
  fresh(): Promise<string>;
  open(location: string, clock: ManualClock): Promise<DirectoryStore>;
}

const sqlite = (): EngineFixture => {
  let dir = '';
  let n = 0;
  return {
    name: 'sqlite',
    setUp: () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-store-'));
      return Promise.resolve();
    },
    tearDown: () => {
      fs.rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
    fresh: () => Promise.resolve(path.join(dir, `directory-${++n}.db`)),
    open: (location, clock) => openStore({ store: location, clock, log: silentLogger() }),
  };
};

const postgres = (): EngineFixture => {
  let server: PostgresServer | undefined;
  let n = 0;
  return {
    name: 'postgres',
    setUp: async () => {
      server = await startPostgres();
    },
    tearDown: async () => {
      await server?.stop();
    },
    fresh: () => createDatabase(server!, `t${++n}`),
    open: (location, clock) => openStore({ store: location, clock, log: silentLogger(), passwordFile: server!.passwordFile, poolSize: 4 }),
  };
};

for (const fixture of [sqlite(), postgres()]) {
  describe(`DirectoryStore on ${fixture.name}`, function () {
    this.timeout(30_000);
    let location: string;
    let clock: ManualClock;
    let store: DirectoryStore;

    before(() => fixture.setUp());
    after(() => fixture.tearDown());

    beforeEach(async () => {
      location = await fixture.fresh();
      clock = new ManualClock();
      store = await fixture.open(location, clock);
    });

    afterEach(() => store.close());

    /** A tenant with one app and one resource `https://api.example` with roles read, write. */
    async function seed(): Promise<{ tenantId: string; clientId: string }> {
      const { tenantId } = await store.createTenant('contoso');
      const { clientId } = await store.createApp(tenantId, 'billing');
      await store.createResource(tenantId, 'https://api.example', ['read', 'write']);
      return { tenantId, clientId };
    }

    it('stamps each mutation with the next revision and logs it when mutations succeed', async () => {
      const { tenantId, clientId } = await seed();
      await store.grantRole(tenantId, clientId, 'https://api.example', 'read');
      const changes = await store.changesAfter(0, 100);
      assert.deepEqual(changes.map((c) => c.revision), [1, 2, 3, 4]);
      assert.equal(await store.head(), 4);
      assert.deepEqual(changes.map((c) => c.kind), ['tenant', 'identity', 'tenant', 'identity']);
    });

    it('leaves no revision gap when a mutation is refused', async () => {
      const { tenantId } = await seed();
      await rejectsWith('already_exists', () => store.createApp(tenantId, 'billing'));
      await rejectsWith('already_exists', () => store.createTenant('contoso'));
      const next = await store.createApp(tenantId, 'payroll');
      assert.equal(next.revision, 4);
      assert.deepEqual((await store.changesAfter(0, 100)).map((c) => c.revision), [1, 2, 3, 4]);
    });

    it('keeps every acknowledged mutation when the store is reopened', async () => {
      const { tenantId, clientId } = await seed();
      await store.addCertificateCredential(tenantId, clientId, { keyId: 'k1', publicJwkJson: JWK, x5tS256: '', notBefore: 0, notAfter: 0 });
      await store.close();
      store = await fixture.open(location, clock);
      const identity = (await store.identity(tenantId, clientId))!;
      assert.equal(identity.name, 'billing');
      assert.deepEqual(identity.credentials.map((c) => c.keyId), ['k1']);
      assert.equal(await store.head(), 4);
      assert.equal((await store.createApp(tenantId, 'other')).revision, 5);
    });

    it('answers not_found when the tenant, app, resource or role is unknown', async () => {
      const { tenantId, clientId } = await seed();
      const ghost = '00000000-0000-4000-8000-000000000000';
      await rejectsWith('not_found', () => store.createApp(ghost, 'x'));
      await rejectsWith('not_found', () => store.setAppEnabled(tenantId, ghost, false));
      await rejectsWith('not_found', () => store.grantRole(tenantId, clientId, 'https://nope.example', 'read'));
      await rejectsWith('not_found', () => store.grantRole(tenantId, clientId, 'https://api.example', 'admin'));
      await rejectsWith('not_found', () => store.revokeRole(tenantId, clientId, 'https://api.example', 'read'));
      await rejectsWith('not_found', () => store.removeCredential(tenantId, clientId, 'missing'));
    });

    it('answers already_exists from the constraints when a resource, grant or key id is duplicated', async () => {
      const { tenantId, clientId } = await seed();
      await rejectsWith('already_exists', () => store.createResource(tenantId, 'https://api.example', []));
      await store.grantRole(tenantId, clientId, 'https://api.example', 'read');
      await rejectsWith('already_exists', () => store.grantRole(tenantId, clientId, 'https://api.example', 'read'));
      const secret = { keyId: 's1', secretHash: 'sha256$a$b', notBefore: 0, notAfter: 0 };
      await store.addSecretCredential(tenantId, clientId, secret);
      await rejectsWith('already_exists', () => store.addSecretCredential(tenantId, clientId, secret));
      assert.equal(await store.head(), 5, 'refusals take no revision');
    });

    it('sets posture_changed_at_ms when an app is disabled, a credential removed or a role revoked', async () => {
      const { tenantId, clientId } = await seed();
      const identity = async () => (await store.identity(tenantId, clientId))!;
      await store.grantRole(tenantId, clientId, 'https://api.example', 'read');
      await store.addSecretCredential(tenantId, clientId, { keyId: 's1', secretHash: 'h', notBefore: 0, notAfter: 0 });
      assert.equal((await identity()).postureChangedAtMs, 0);

      clock.advance(1000);
      await store.setAppEnabled(tenantId, clientId, false);
      assert.equal((await identity()).postureChangedAtMs, clock.now());
      assert.equal((await identity()).enabled, false);

      clock.advance(1000);
      await store.removeCredential(tenantId, clientId, 's1');
      assert.equal((await identity()).postureChangedAtMs, clock.now());

      clock.advance(1000);
      await store.revokeRole(tenantId, clientId, 'https://api.example', 'read');
      assert.equal((await identity()).postureChangedAtMs, clock.now());
      assert.deepEqual((await identity()).grants, []);
    });

    it('publishes a signing key once and retires the previous key of the domain when a new one registers', async () => {
      const first = await store.registerSigningKey('kid-1', 'regional/eastus', JWK);
      const again = await store.registerSigningKey('kid-1', 'regional/eastus', JWK);
      assert.equal(first.created, true);
      assert.equal(again.created, false);
      assert.equal(again.revision, first.revision);
      clock.advance(5000);
      await store.registerSigningKey('kid-2', 'regional/eastus', JWK);
      assert.deepEqual((await store.signingKeys()).map((k) => [k.kid, k.retiredAtMs]), [
        ['kid-1', clock.now()],
        ['kid-2', 0],
      ]);
      await rejectsWith('already_exists', () => store.registerSigningKey('kid-2', 'backup', JWK));
    });

    it('records compacted_through and keeps the revision counter when the log is compacted', async () => {
      await seed();
      assert.equal(await store.compactChangeLog(1), 2);
      assert.equal(await store.compactedThrough(), 2);
      assert.deepEqual((await store.changesAfter(0, 100)).map((c) => c.revision), [3]);
      assert.equal(await store.compactChangeLog(0), 3);
      assert.equal(await store.head(), 3);
      assert.equal((await store.createTenant('fabrikam')).revision, 4);
      // Compaction never moves backwards.
      assert.equal(await store.compactChangeLog(100), 3);
    });

    it('returns every identity in a snapshot when the directory is small', async () => {
      const { tenantId } = await seed();
      await store.createApp(tenantId, 'payroll');
      const snapshot = await store.snapshot('eastus', 10);
      assert.equal(snapshot.revision, await store.head());
      assert.equal(snapshot.identities.length, 2);
      assert.deepEqual(snapshot.tenants[0]!.resources, [{ identifier: 'https://api.example', roles: ['read', 'write'] }]);
    });

    it('returns the identities most recently used in the region when the directory is larger than the limit', async () => {
      const { tenantId, clientId } = await seed();
      const apps: string[] = [];
      for (const name of ['a', 'b', 'c']) apps.push((await store.createApp(tenantId, name)).clientId);
      await store.recordUsage([
        { tenantId, clientId: apps[0]!, region: 'eastus', atMs: 100, authenticated: true },
        { tenantId, clientId: apps[1]!, region: 'eastus', atMs: 300, authenticated: false },
        { tenantId, clientId, region: 'westus', atMs: 500, authenticated: true },
      ]);
      const snapshot = await store.snapshot('eastus', 2);
      assert.deepEqual(snapshot.identities.map((i) => i.clientId), [apps[1], apps[0]]);
      assert.equal((await store.identity(tenantId, apps[0]!))!.lastAuthenticatedAtMs, 100);
      assert.equal((await store.identity(tenantId, apps[1]!))!.lastAuthenticatedAtMs, 0);
    });

    it('ignores usage of unknown identities and keeps the newest time when usage is recorded', async () => {
      const { tenantId, clientId } = await seed();
      await store.recordUsage([
        { tenantId, clientId, region: 'eastus', atMs: 500, authenticated: true },
        { tenantId, clientId, region: 'eastus', atMs: 200, authenticated: true },
        { tenantId, clientId: 'ghost', region: 'eastus', atMs: 900, authenticated: true },
      ]);
      assert.equal((await store.identity(tenantId, clientId))!.lastAuthenticatedAtMs, 500);
      assert.equal(await store.head(), 3, 'usage is not a mutation');
    });

    it('writes a newer usage time only once it is the usage precision past the stored one', async () => {
      const { tenantId, clientId } = await seed();
      const other = (await store.createApp(tenantId, 'other')).clientId;
      const use = (app: string, atMs: number) => store.recordUsage([{ tenantId, clientId: app, region: 'eastus', atMs, authenticated: true }]);
      await use(clientId, 1_000_000);
      await use(other, 1_000_500);
      await use(clientId, 1_000_000 + USAGE_PRECISION_MS - 1);
      assert.equal((await store.identity(tenantId, clientId))!.lastAuthenticatedAtMs, 1_000_000, 'within the precision: not written');
      assert.deepEqual((await store.snapshot('eastus', 1)).identities.map((i) => i.clientId), [other], 'the usage row kept its time too');
      await use(clientId, 1_000_000 + USAGE_PRECISION_MS);
      assert.equal((await store.identity(tenantId, clientId))!.lastAuthenticatedAtMs, 1_000_000 + USAGE_PRECISION_MS);
      assert.deepEqual((await store.snapshot('eastus', 1)).identities.map((i) => i.clientId), [clientId]);
    });

    it('calls commit listeners with the revision when a mutation commits', async () => {
      const seen = new Set<number>();
      store.onCommit((r) => seen.add(r));
      await seed();
      await rejectsWith('already_exists', () => store.createTenant('contoso'));
      assert.deepEqual([...seen].sort(), [1, 2, 3]);
    });

    it('reads head, tenant and identity together when an identity is looked up', async () => {
      const { tenantId, clientId } = await seed();
      const found = await store.lookup(tenantId, clientId);
      assert.equal(found.revision, 3);
      assert.equal(found.tenant?.name, 'contoso');
      assert.equal(found.identity?.name, 'billing');
      const missing = await store.lookup(tenantId, '00000000-0000-4000-8000-000000000000');
      assert.equal(missing.identity, undefined);
    });

    it('saves refuse_assertion_reuse for an app and a tenant and returns it in reads, lookups, snapshots, exports and the change log', async () => {
      const { tenantId, clientId } = await seed();
      const strict = await store.createApp(tenantId, 'strict', { refuseAssertionReuse: true });
      const other = await store.createTenant('fabrikam', { refuseAssertionReuse: true });
      assert.equal((await store.identity(tenantId, clientId))!.refuseAssertionReuse, undefined);
      assert.equal((await store.identity(tenantId, strict.clientId))!.refuseAssertionReuse, true);
      assert.equal((await store.tenant(tenantId))!.refuseAssertionReuse, undefined);
      assert.equal((await store.tenant(other.tenantId))!.refuseAssertionReuse, true);

      const on = await store.setAppAssertionReuse(tenantId, clientId, true);
      const tenantOn = await store.setTenantAssertionReuse(tenantId, true);
      const tail = await store.changesAfter(on - 1, 10);
      assert.deepEqual(tail.map((c) => [c.revision, c.kind, c.clientId]), [[on, 'identity', clientId], [tenantOn, 'tenant', '']]);
      const looked = await store.lookup(tenantId, clientId);
      assert.equal(looked.identity!.refuseAssertionReuse, true);
      assert.equal(looked.tenant!.refuseAssertionReuse, true);
      const snapshot = await store.snapshot('', 100);
      assert.equal(snapshot.identities.find((i) => i.clientId === clientId)!.refuseAssertionReuse, true);
      assert.equal(snapshot.tenants.find((t) => t.tenantId === tenantId)!.refuseAssertionReuse, true);
      const exported = await store.exportState();
      assert.deepEqual(exported.identities.filter((i) => i.refuseAssertionReuse === true).map((i) => i.name).sort(), ['billing', 'strict']);
      assert.deepEqual((await store.listTenants()).map((t) => [t.name, t.refuseAssertionReuse]), [['contoso', true], ['fabrikam', true]]);

      await store.close();
      store = await fixture.open(location, clock);
      assert.equal((await store.identity(tenantId, clientId))!.refuseAssertionReuse, true, 'the flag survives a reopen');
      await store.setAppAssertionReuse(tenantId, clientId, false);
      await store.setTenantAssertionReuse(tenantId, false);
      assert.equal((await store.identity(tenantId, clientId))!.refuseAssertionReuse, undefined);
      assert.equal((await store.tenant(tenantId))!.refuseAssertionReuse, undefined);
      await rejectsWith('not_found', () => store.setAppAssertionReuse(tenantId, other.tenantId, true));
      await rejectsWith('not_found', () => store.setTenantAssertionReuse(clientId, true));
    });

    it('exports every tenant, identity and signing key at the head revision', async () => {
      const { tenantId, clientId } = await seed();
      await store.grantRole(tenantId, clientId, 'https://api.example', 'write');
      await store.registerSigningKey('kid-1', 'global', JWK);
      const state = await store.exportState();
      assert.equal(state.revision, 5);
      assert.deepEqual(state.identities.map((i) => [i.name, i.grants]), [['billing', [{ resource: 'https://api.example', role: 'write' }]]]);
      assert.deepEqual(state.signingKeys.map((k) => k.kid), ['kid-1']);
    });
  });
}

describe('DirectoryStore on sqlite, the file', () => {
  it('opens the database in WAL mode and carries the revision counter over from the AUTOINCREMENT head', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-store-'));
    try {
      const file = path.join(dir, 'directory.db');
      // A database as the previous schema left it: user_version 1, the head in the AUTOINCREMENT sequence.
      let store = await openStore({ store: file, clock: new ManualClock(), log: silentLogger() });
      await store.createTenant('before');
      await store.close();
      const db = new Database(file);
      db.exec("UPDATE sqlite_sequence SET seq = 41 WHERE name = 'change_log'; PRAGMA user_version = 1; DROP TABLE revision_counter;");
      db.exec('ALTER TABLE apps DROP COLUMN refuse_assertion_reuse; ALTER TABLE tenants DROP COLUMN refuse_assertion_reuse;');
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      db.close();
      store = await openStore({ store: file, clock: new ManualClock(), log: silentLogger() });
      assert.equal(await store.head(), 41);
      assert.equal((await store.createTenant('after')).revision, 42);
      // The later migration added refuse_assertion_reuse, off for rows that were there before.
      const before = (await store.listTenants()).find((t) => t.name === 'before');
      assert.deepEqual(before, { tenantId: before!.tenantId, name: 'before', refuseAssertionReuse: false });
      assert.equal((await store.setTenantAssertionReuse(before!.tenantId, true)), 43);
      await store.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
