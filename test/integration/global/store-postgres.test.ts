import assert from 'node:assert/strict';
import pg from 'pg';
import { ManualClock } from '../../../lib/clock/index.js';
import { silentLogger } from '../../../lib/log/index.js';
import { DirectoryError } from '../../../services/global/store/directory-error.js';
import { openStore } from '../../../services/global/store/open-store.js';
import type { DirectoryStore } from '../../../services/global/store/store.js';
import { createDatabase, startPostgres, type PostgresServer } from '../../support/postgres-server.js';

/** What only the PostgreSQL engine does: several instances on one database. */
describe('DirectoryStore on postgres, several instances', function () {
  this.timeout(60_000);
  let server: PostgresServer;
  let n = 0;
  const open: DirectoryStore[] = [];

  before(async () => {
    server = await startPostgres();
  });
  after(async () => {
    await server.stop();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  async function twoInstances(): Promise<[DirectoryStore, DirectoryStore, string]> {
    const url = await createDatabase(server, `m${++n}`);
    const a = await openStore({ store: url, clock: new ManualClock(), log: silentLogger(), passwordFile: server.passwordFile, poolSize: 6 });
    const b = await openStore({ store: url, clock: new ManualClock(), log: silentLogger(), passwordFile: server.passwordFile, poolSize: 6 });
    open.push(a, b);
    return [a, b, url];
  }

  it('hands out gap-free revisions in commit order when two instances write concurrently', async () => {
    const [a, b] = await twoInstances();
    const perWriter = 60;
    const writers = 6;
    // A reader follows the log like a watcher: every batch must continue exactly at its cursor.
    let cursor = 0;
    let reading = true;
    let batches = 0;
    const reader = (async () => {
      while (reading || cursor < writers * perWriter) {
        const changes = await b.changesAfter(cursor, 1000);
        for (const c of changes) {
          assert.equal(c.revision, cursor + 1, `a watcher at ${cursor} saw ${c.revision} first: a later revision committed before an earlier one`);
          cursor = c.revision;
        }
        if (changes.length > 0) batches += 1;
      }
    })();
    const acknowledged: number[] = [];
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        const store = w % 2 === 0 ? a : b;
        for (let i = 0; i < perWriter; i += 1) acknowledged.push((await store.createTenant(`t-${w}-${i}`)).revision);
      }),
    );
    reading = false;
    await reader;
    const total = writers * perWriter;
    assert.deepEqual([...acknowledged].sort((x, y) => x - y), Array.from({ length: total }, (_, i) => i + 1));
    assert.equal(await a.head(), total);
    assert.deepEqual((await a.changesAfter(0, total + 10)).map((c) => c.revision), Array.from({ length: total }, (_, i) => i + 1));
    console.log(`      ${total} writes from ${writers} writers on two instances; the watcher read them in ${batches} batches without a gap`);
  });

  it("tells the other instance's commit listeners when one instance commits", async () => {
    const [a, b] = await twoInstances();
    const heard: number[] = [];
    const got = new Promise<void>((resolve) =>
      b.onCommit((r) => {
        heard.push(r);
        if (r === 2) resolve();
      }),
    );
    const { tenantId } = await a.createTenant('contoso');
    await a.createApp(tenantId, 'billing');
    await got;
    assert.deepEqual(heard, [1, 2]);
  });

  it('wakes every listener once the commit feed connection comes back after it was cut', async () => {
    const [a, b] = await twoInstances();
    const heard: number[] = [];
    b.onCommit((r) => heard.push(r));
    const admin = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'authmesh', database: 'postgres', password: server.password });
    await admin.connect();
    try {
      // Cut every LISTEN connection, as a network blip or a database restart would.
      const cut = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND datname = $1", [`m${n}`]);
      assert.ok(cut.rowCount! >= 2);
    } finally {
      await admin.end();
    }
    await waitFor(() => heard.includes(0), 'a wake-up (0) after the feed reconnected');
    await a.createTenant('after-reconnect');
    await waitFor(() => heard.includes(1), 'the next commit over the re-established feed');
  });

  it('lets one instance at a time hold a lease and hands it over once it expires', async () => {
    const [a, b] = await twoInstances();
    assert.equal(await a.claimLease('backup-export', 'global-1', 400), true);
    assert.equal(await b.claimLease('backup-export', 'global-2', 400), false);
    assert.equal(await a.claimLease('backup-export', 'global-1', 400), true, 'the holder renews');
    await waitFor(async () => await b.claimLease('backup-export', 'global-2', 60_000), 'global-2 to take the expired lease');
    assert.equal(await a.claimLease('backup-export', 'global-1', 400), false);
  });

  it('rejects a write UNAVAILABLE, never OK, when the database is gone, and never names the password', async () => {
    const own = await startPostgres();
    try {
      const store = await openStore({ store: own.url, clock: new ManualClock(), log: silentLogger(), passwordFile: own.passwordFile });
      open.push(store);
      await store.createTenant('before');
      await own.kill();
      const err = await store.createTenant('after').then(
        () => assert.fail('a write resolved while the database was down'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof DirectoryError, String(err));
      assert.equal(err.code, 'unavailable');
      assert.ok(!err.message.includes(own.password));
      await assert.rejects(store.head(), (e: unknown) => e instanceof DirectoryError && e.code === 'unavailable');
    } finally {
      await own.stop();
    }
  });
});

async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
