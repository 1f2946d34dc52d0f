import assert from 'node:assert/strict';
import fs from 'node:fs';
import { credentials, status } from '@grpc/grpc-js';
import { acquireDirect, workloadRequest } from '../support/backup-process.js';
import { CHAOS_FULL, CLIENT_DEADLINE_MS, ChaosMesh, LOAD } from '../support/chaos-mesh.js';
import { attack } from '../support/hostile-client.js';
import { acquire, runLoad, type LoadReport } from '../support/mesh-harness.js';
import { sleep } from '../support/spawn-service.js';

interface Fault {
  /** Applied once the load has run a fifth of its time. */
  inject: () => Promise<unknown> | void;
  /** Undoes the fault after the load; the mesh then settles back on regional/eastus. */
  heal: () => Promise<unknown> | void;
}

/**
 * Scripted faults on the real processes of the mesh under load through gateway-eastus: every
 * caller sets a 5 s deadline; every single-domain fault must cost zero requests and no call may
 * wait past its deadline. `make chaos` runs the full form (AUTHMESH_CHAOS=full).
 */
describe(`chaos suite (${CHAOS_FULL ? 'full' : 'short'} form)`, function () {
  this.timeout(CHAOS_FULL ? 600_000 : 240_000);
  const chaos = new ChaosMesh();
  const mesh = chaos.mesh;

  before(async function () {
    this.timeout(120_000);
    await chaos.start(LOAD.identities);
  });

  after(async () => {
    chaos.writeReport();
    await chaos.stop();
  });

  async function scenario(name: string, fault: string, f: Fault, opts: { concurrency?: number; durationMs?: number } = {}): Promise<LoadReport> {
    const durationMs = opts.durationMs ?? LOAD.durationMs;
    const load = runLoad(() => chaos.callGateway(), { ...LOAD, durationMs, concurrency: opts.concurrency ?? LOAD.concurrency });
    await sleep(durationMs / 5);
    let report: LoadReport;
    try {
      await f.inject();
    } finally {
      report = await load;
      await f.heal();
    }
    chaos.record(name, fault, report);
    await chaos.settle();
    return report;
  }

  function assertInvisible(r: LoadReport): void {
    assert.equal(r.failed, 0, r.errors.join('; '));
    assert.ok(r.maxMs < CLIENT_DEADLINE_MS, `slowest call took ${r.maxMs} ms, past the ${CLIENT_DEADLINE_MS} ms deadline`);
  }

  const stopped = new Set<string>();
  const hang = (name: string) => (): void => {
    mesh.signal(name, 'SIGSTOP');
    stopped.add(name);
  };
  const resume = (name: string) => (): void => {
    if (stopped.delete(name)) mesh.signal(name, 'SIGCONT');
  };
  afterEach(() => {
    for (const name of stopped) mesh.signal(name, 'SIGCONT');
    stopped.clear();
  });

  it('runs the mesh with mutual TLS, as production does: members refuse a plaintext caller, the gateway serves workloads', async () => {
    const w = chaos.workloads[0]!;
    for (const name of ['global', 'regional-eastus', 'backup']) {
      const plain = await acquireDirect(mesh.address(name), workloadRequest(w), undefined, credentials.createInsecure());
      assert.equal(plain.error?.code, status.UNAVAILABLE, `${name} answered a plaintext caller: ${plain.error?.details ?? plain.response?.faultDomain}`);
    }
    assert.equal((await chaos.callGateway(w)).response?.faultDomain, 'regional/eastus');
  });

  it('loses no request when regional-eastus is killed (SIGKILL), served by global', async () => {
    const r = await scenario('regional down', 'SIGKILL regional-eastus', { inject: () => mesh.kill('regional-eastus'), heal: () => mesh.start('regional-eastus') });
    assertInvisible(r);
    assert.ok((r.byDomain.global ?? 0) > 0, 'global served after the kill');
  });

  it('loses no request when regional-eastus hangs (SIGSTOP)', async () => {
    const r = await scenario('regional hung', 'SIGSTOP regional-eastus', { inject: hang('regional-eastus'), heal: resume('regional-eastus') });
    assertInvisible(r);
    assert.ok((r.byDomain.global ?? 0) > 0);
  });

  it('loses no request when global is killed (SIGKILL): regional serves from its cache', async () => {
    const r = await scenario('global down', 'SIGKILL global', { inject: () => mesh.kill('global'), heal: () => mesh.start('global') });
    assertInvisible(r);
    assert.deepEqual(Object.keys(r.byDomain), ['regional/eastus']);
  });

  it('loses no request when global hangs (SIGSTOP)', async () => {
    const r = await scenario('global hung', 'SIGSTOP global', { inject: hang('global'), heal: resume('global') });
    assertInvisible(r);
    assert.deepEqual(Object.keys(r.byDomain), ['regional/eastus']);
  });

  it('loses no request when backup is killed (SIGKILL) or hangs (SIGSTOP)', async () => {
    const killed = await scenario('backup down', 'SIGKILL backup', { inject: () => mesh.kill('backup'), heal: () => mesh.start('backup') });
    assertInvisible(killed);
    const hung = await scenario('backup hung', 'SIGSTOP backup', { inject: hang('backup'), heal: resume('backup') });
    assertInvisible(hung);
  });

  it('loses no request when regional-eastus fails a third of its calls (injected UNAVAILABLE)', async () => {
    const r = await scenario('regional errors', 'hook: regional 33% UNAVAILABLE', {
      inject: () => chaos.setFaults('regional-eastus', { errorRate: 0.33, errorCode: status.UNAVAILABLE }),
      heal: () => chaos.clearFaults('regional-eastus'),
    });
    assertInvisible(r);
  });

  it('loses no request when global answers every call after 2 s (injected latency)', async () => {
    const r = await scenario('slow global', 'hook: global +2000 ms every call', {
      inject: () => chaos.setFaults('global', { latencyMs: 2000 }),
      heal: () => chaos.clearFaults('global'),
    });
    assertInvisible(r);
    // With the region down too, global's 2 s answers run past the gateway's attempt timeout.
    const alone = await scenario('slow global, regional down', 'hook: global +2000 ms, SIGKILL regional-eastus', {
      inject: async () => {
        await chaos.setFaults('global', { latencyMs: 2000 });
        await mesh.kill('regional-eastus');
      },
      heal: async () => {
        await chaos.clearFaults('global');
        await mesh.start('regional-eastus');
      },
    });
    assertInvisible(alone);
    assert.ok((alone.byDomain.backup ?? 0) > 0, 'backup served while global was slow');
  });

  it('loses no request, keeps calls on regional-eastus and every breaker closed while a hostile caller sends malformed requests', async () => {
    let attacking = true;
    let hostile = 0;
    let loop: Promise<void> = Promise.resolve();
    const r = await scenario('hostile caller', 'undecodable / malformed gRPC requests, 4 streams, anonymous', {
      inject: () => {
        loop = (async () => {
          // Bounded: at most 200 rounds, and only while the load runs.
          for (let round = 0; attacking && round < 200; round += 1) hostile += (await attack(mesh.address('gateway-eastus'), 1)).length;
        })();
      },
      heal: async () => {
        attacking = false;
        await loop;
      },
    });
    console.log(`      ${hostile} hostile calls during the load`);
    assertInvisible(r);
    assert.ok(hostile > 0);
    // Every call stays on the home regional; a hedge on a noisy machine may let global answer a few.
    assert.ok((r.byDomain['regional/eastus'] ?? 0) >= r.sent * 0.99, `served by ${JSON.stringify(r.byDomain)}`);
    const status = await chaos.gatewayBreakers();
    assert.deepEqual(status, status.map(() => 'closed'), `breakers after the attack: ${status.join(', ')}`);
  });

  it('loses no request while regional-eastus flaps (killed and restarted every 2 s)', async () => {
    let flapping = true;
    let flaps = 0;
    let loop: Promise<void> = Promise.resolve();
    const r = await scenario('flapping regional', 'regional-eastus SIGKILL / restart every 2 s', {
      inject: () => {
        loop = (async () => {
          // Bounded: at most 20 cycles, and only while the load runs.
          while (flapping && flaps < 20) {
            await mesh.kill('regional-eastus');
            flaps += 1;
            await sleep(2000);
            await mesh.start('regional-eastus');
            await sleep(2000);
          }
        })();
      },
      heal: async () => {
        flapping = false;
        await loop;
      },
    }, { durationMs: Math.max(LOAD.durationMs, 9000) });
    console.log(`      regional-eastus went down ${flaps} times`);
    assertInvisible(r);
    assert.ok(flaps >= 1);
  });

  it("carries a whole region's traffic on global when regional-eastus is killed under load from every identity", async () => {
    const r = await scenario(
      'region onto global',
      `SIGKILL regional-eastus, ${LOAD.identities} identities, ${LOAD.concurrency * 2} callers`,
      { inject: () => mesh.kill('regional-eastus'), heal: () => mesh.start('regional-eastus') },
      { concurrency: LOAD.concurrency * 2 },
    );
    assertInvisible(r);
    assert.ok((r.byDomain.global ?? 0) > r.sent / 2, 'global carried most of the region');
  });

  it('serves from backup with no failed request when regional-eastus is killed and global hangs', async () => {
    const r = await scenario('regional + global down', 'SIGKILL regional-eastus + SIGSTOP global', {
      inject: async () => {
        await mesh.kill('regional-eastus');
        hang('global')();
      },
      heal: async () => {
        resume('global')();
        await mesh.start('regional-eastus');
      },
    });
    assertInvisible(r);
    assert.ok((r.byDomain.backup ?? 0) > 0, 'backup served');
  });

  it('keeps refusing an app disabled just before global dies: regional at once, backup after the export', async () => {
    const target = chaos.workloads[0]!;
    const others = chaos.workloads.slice(1);
    const meshToken = fs.readFileSync(chaos.files.meshTokenFile, 'utf8').trim();
    const regional = mesh.tokenClient('regional-eastus');
    assert.ok((await acquire(regional, target)).response, 'served before the change');
    await mesh.adminCall((c) => (m, o, cb) => c.setAppEnabled({ tenantId: target.tenantId, clientId: target.clientId, enabled: false }, m, o, cb));
    await chaos.exportBackup();
    // Global dies right after acknowledging the change and exporting it.
    await mesh.kill('global');
    try {
      // Regional applies the change from the feed within the propagation bound (seconds).
      const until = Date.now() + 5000;
      let refused = await acquire(regional, target);
      while (refused.response && Date.now() < until) {
        await sleep(100);
        refused = await acquire(regional, target);
      }
      assert.ok(refused.error, 'regional refuses the disabled app');
      assert.ok([status.UNAUTHENTICATED, status.PERMISSION_DENIED].includes(refused.error.code), refused.error.details);
      // Backup loads the export (polled every 200 ms) and refuses too.
      const backupUntil = Date.now() + 5000;
      let fromBackup = await acquireDirect(mesh.address('backup'), workloadRequest(target), meshToken, mesh.credentialsAs('gateway-eastus'));
      while (fromBackup.response && Date.now() < backupUntil) {
        await sleep(200);
        fromBackup = await acquireDirect(mesh.address('backup'), workloadRequest(target), meshToken, mesh.credentialsAs('gateway-eastus'));
      }
      assert.equal(fromBackup.response, undefined, 'backup refuses the disabled app');
      // Through the gateway nothing issues for it, while every other identity is served.
      const viaGateway = await chaos.callGateway(target);
      assert.equal(viaGateway.response, undefined, `gateway issued a token from ${viaGateway.response?.faultDomain}`);
      let i = 0;
      const report = await runLoad(() => chaos.callGateway(others[i++ % others.length]), { ...LOAD, durationMs: Math.min(LOAD.durationMs, 5000) });
      chaos.record('posture change, then global down', 'disable app, export, SIGKILL global', report);
      assertInvisible(report);
    } finally {
      await mesh.start('global');
      await mesh.adminCall((c) => (m, o, cb) => c.setAppEnabled({ tenantId: target.tenantId, clientId: target.clientId, enabled: true }, m, o, cb));
      await chaos.exportBackup();
    }
  });
});
