import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { WatchResponse } from '../../../gen/authmesh/directory/v1/directory.js';
import { call, startTestGlobal, type TestGlobal } from '../../support/global-harness.js';
import { createDatabase, startPostgres, type PostgresServer } from '../../support/postgres-server.js';

/** Two global instances, in this process, on one PostgreSQL database and one shared data dir. */
describe('Global instances on one PostgreSQL store', function () {
  this.timeout(60_000);
  let server: PostgresServer;
  let dataDir: string;
  let g1: TestGlobal;
  let g2: TestGlobal;

  before(async () => {
    server = await startPostgres();
    const url = await createDatabase(server, 'mesh');
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-globals-'));
    const common = { store: url, storePasswordFile: server.passwordFile, dataDir, backupIntervalMs: 200 };
    g1 = await startTestGlobal({ ...common, instance: 'global-1' });
    g2 = await startTestGlobal({ ...common, instance: 'global-2' });
  });

  after(async () => {
    await g2?.close();
    await g1?.close();
    await server?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('publishes a signing key of each instance, neither retiring the other', async () => {
    const keys = await g1.server.store.signingKeys();
    const own = keys.filter((k) => k.domain.startsWith('global/'));
    assert.deepEqual(own.map((k) => k.domain).sort(), ['global/global-1', 'global/global-2']);
    assert.ok(own.every((k) => k.retiredAtMs === 0), 'both keys active');
    assert.notEqual(g1.server.signer.kid, g2.server.signer.kid);
    assert.equal(g1.server.adminToken, g2.server.adminToken, 'instances on one data dir share the admin token');
  });

  it('sends a write made on global-1 to a watcher of global-2', async () => {
    const head = await g2.server.store.head();
    const stream = g2.directory.watch({ fromRevision: head }, g2.meshAuth);
    const seen: WatchResponse[] = [];
    let started = 0;
    const arrived = new Promise<number>((resolve, reject) => {
      stream.on('data', (m: WatchResponse) => {
        seen.push(m);
        if (m.tenant?.name === 'fabrikam') resolve(performance.now() - started);
      });
      stream.on('error', reject);
    });
    // The caught-up message says the watch is live before the write is made.
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 10));
    started = performance.now();
    const res = await call<{ tenantId: string; revision: number }>(g1.admin, 'createTenant', { name: 'fabrikam' }, g1.adminAuth);
    const ms = await arrived;
    stream.cancel();
    assert.equal(seen.find((m) => m.tenant?.name === 'fabrikam')!.revision, res.revision);
    console.log(`      write on global-1 reached the watcher on global-2 in ${ms.toFixed(1)} ms`);
  });

  it('lets only one instance hold the backup export lease', async () => {
    const backups = path.join(dataDir, 'backups');
    const until = Date.now() + 10_000;
    while (!(fs.existsSync(backups) && fs.readdirSync(backups).length > 0)) {
      if (Date.now() > until) throw new Error('no timed backup export');
      await new Promise((r) => setTimeout(r, 50));
    }
    const holders = await Promise.all([
      g1.server.store.claimLease('backup-export', 'global-1', 5000),
      g2.server.store.claimLease('backup-export', 'global-2', 5000),
    ]);
    assert.equal(holders.filter(Boolean).length, 1, `exactly one holder, got ${JSON.stringify(holders)}`);
  });
});
