import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { AdminServiceClient } from '../../gen/authmesh/admin/v1/admin.js';
import { DirectoryServiceClient } from '../../gen/authmesh/directory/v1/directory.js';
import { bearer, call } from '../support/global-harness.js';
import { sleep, spawnService, waitForServing, type SpawnedService } from '../support/spawn-service.js';
import { feedRevisions } from '../support/change-feed.js';

const ENTRY = 'services/global/main.js';

/** Waits for the `"listening":"host:port"` log line and returns the address. */
async function boundAddress(proc: SpawnedService, timeoutMs = 15_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    for (const line of proc.output) {
      const m = /"listening":"([^"]+)"/.exec(line);
      if (m !== null) return m[1]!;
    }
    if (Date.now() > until) throw new Error(`no listening line from ${proc.name}:\n${proc.output.join('\n')}`);
    await sleep(50);
  }
}


/** How a call fails when the server process is killed under it: the connection is gone. */
const LOST_CONNECTION: readonly status[] = [status.UNAVAILABLE, status.INTERNAL];

describe('global durability', () => {
  let dataDir: string;
  const started: SpawnedService[] = [];

  const start = async (): Promise<{ proc: SpawnedService; address: string }> => {
    const proc = spawnService('global', ENTRY, ['--listen', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'info']);
    started.push(proc);
    const address = await boundAddress(proc);
    await waitForServing(address);
    return { proc, address };
  };

  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-durability-'));
  });

  afterEach(async () => {
    for (const p of started.splice(0)) await p.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps every acknowledged mutation with no revision gap when global is killed with SIGKILL right after acknowledging', async function () {
    this.timeout(60_000);
    const first = await start();
    const adminToken = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    const feedToken = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    const admin = new AdminServiceClient(first.address, credentials.createInsecure());
    const acknowledged: { clientId: string; revision: number }[] = [];
    const unexpected: string[] = [];
    let killed = false;
    let tenantId: string;
    try {
      ({ tenantId } = await call<{ tenantId: string }>(admin, 'createTenant', { name: 'durable' }, bearer(adminToken)));
      // A burst of concurrent mutations; the process dies the moment the 10th is acknowledged.
      await new Promise<void>((resolve) => {
        let settled = 0;
        for (let i = 0; i < 20; i += 1) {
          call<{ clientId: string; revision: number }>(admin, 'createApp', { tenantId, name: `app-${i}` }, bearer(adminToken))
            .then((res) => {
              acknowledged.push(res);
              if (acknowledged.length === 10) {
                killed = true;
                first.proc.kill('SIGKILL');
              }
            })
            .catch((err: ServiceError) => {
              // Only the kill may fail a call: as a lost connection, and only once it was sent.
              if (!killed || !LOST_CONNECTION.includes(err.code)) unexpected.push(`${killed ? 'after' : 'before'} the kill: ${status[err.code]} ${err.details}`);
            })
            .finally(() => {
              settled += 1;
              if (settled === 20) resolve();
            });
        }
      });
    } finally {
      admin.close();
    }
    assert.equal(await first.proc.exited, 'SIGKILL');
    assert.deepEqual(unexpected, []);
    assert.ok(acknowledged.length >= 10);

    const second = await start();
    const again = new AdminServiceClient(second.address, credentials.createInsecure());
    try {
      for (const ack of acknowledged) {
        const app = await call<{ clientId: string }>(again, 'getApp', { tenantId, clientId: ack.clientId }, bearer(adminToken));
        assert.equal(app.clientId, ack.clientId);
      }
      const { revisions, head } = await feedRevisions(second.address, feedToken);
      assert.deepEqual(revisions, Array.from({ length: head }, (_, i) => i + 1), 'revisions 1..head with no gap');
      assert.ok(head >= Math.max(...acknowledged.map((a) => a.revision)));
      const next = await call<{ revision: number }>(again, 'createApp', { tenantId, name: 'after-restart' }, bearer(adminToken));
      assert.equal(next.revision, head + 1);
      console.log(`      acknowledged ${acknowledged.length} of 20 before SIGKILL; head after restart ${head}, next revision ${next.revision}`);
    } finally {
      again.close();
    }
  });

  it('exits with code 2 and names the problem when the configuration is invalid', async () => {
    const proc = spawnService('global', ENTRY, ['--listen', 'nowhere', '--data-dir', dataDir]);
    started.push(proc);
    assert.equal(await proc.exited, 2);
    assert.match(proc.output.join('\n'), /--listen .*expected host:port/);
  });

  it('exits 0 when stopped with SIGTERM while a watch is open', async function () {
    this.timeout(30_000);
    const { proc, address } = await start();
    const feedToken = fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    const client = new DirectoryServiceClient(address, credentials.createInsecure());
    const stream = client.watch({ fromRevision: 0 }, bearer(feedToken));
    stream.on('error', () => undefined);
    await new Promise((resolve) => stream.once('data', resolve));
    const t0 = Date.now();
    proc.kill('SIGTERM');
    assert.equal(await proc.exited, 0);
    assert.ok(Date.now() - t0 < 4000, 'shutdown does not wait for the watch to end');
    client.close();
  });
});
