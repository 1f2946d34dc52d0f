import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { TestMesh, acquire, printReport, runLoad, type TestWorkload } from '../support/mesh-harness.js';
import { sleep } from '../support/spawn-service.js';

/**
 * Issue scenarios on real processes: global, regional-eastus and gateway-eastus, killed, hung
 * and restarted under load. Outcomes are asserted; the figures are printed.
 */
describe('gateway failover (system)', function () {
  this.timeout(120_000);
  let mesh: TestMesh;
  let cached: TestWorkload;

  before(async () => {
    mesh = new TestMesh();
    await mesh.startGlobal();
    cached = await mesh.addWorkload('cached-worker');
    await mesh.startRegional('eastus');
    await mesh.startGateway('eastus');
    // Warm the regional cache for the identity (prewarm or first fill).
    const first = await acquire(mesh.tokenClient('gateway-eastus'), cached);
    assert.equal(first.response?.faultDomain, 'regional/eastus', first.error?.details);
  });

  after(async () => {
    await mesh?.stop();
  });

  it('keeps serving a cached identity from regional/eastus when global is hung (SIGSTOP)', async () => {
    const gw = mesh.tokenClient('gateway-eastus');
    mesh.signal('global', 'SIGSTOP');
    try {
      const report = await runLoad(() => acquire(gw, cached, 3000), { concurrency: 4, durationMs: 3000 });
      printReport('global hung', report);
      assert.equal(report.failed, 0, report.errors.join('; '));
      assert.deepEqual(Object.keys(report.byDomain), ['regional/eastus']);
    } finally {
      mesh.signal('global', 'SIGCONT');
    }
  });

  it('loses no request when regional-eastus is killed under 8 callers, then returns to it after restart', async () => {
    const gw = mesh.tokenClient('gateway-eastus');
    let killed = false;
    const report = await runLoad(() => acquire(gw, cached, 5000), {
      concurrency: 8,
      durationMs: 10_000,
      onTick: (sent) => {
        if (!killed && sent === 200) {
          killed = true;
          void mesh.kill('regional-eastus');
        }
      },
    });
    printReport('regional-eastus SIGKILL', report);
    assert.ok(killed, 'the kill happened during the run');
    assert.equal(report.failed, 0, report.errors.join('; '));
    assert.ok((report.byDomain.global ?? 0) > 0, 'global served after the kill');
    assert.ok((report.byDomain['regional/eastus'] ?? 0) > 0, 'regional served before the kill');

    await mesh.startRegional('eastus');
    const started = Date.now();
    let back: string | undefined;
    while (Date.now() - started < 30_000) {
      const out = await acquire(gw, cached);
      assert.ok(out.response, `request failed after restart: ${out.error?.details}`);
      back = out.response.faultDomain;
      if (back === 'regional/eastus') break;
      await sleep(100);
    }
    console.log(`      traffic back on regional/eastus ${Date.now() - started} ms after it restarted`);
    assert.equal(back, 'regional/eastus');
  });

  it('answers every request within its deadline while regional-eastus is hung (SIGSTOP)', async () => {
    const gw = mesh.tokenClient('gateway-eastus');
    mesh.signal('regional-eastus', 'SIGSTOP');
    try {
      const report = await runLoad(() => acquire(gw, cached, 3000), { concurrency: 8, durationMs: 6000 });
      printReport('regional-eastus hung', report);
      assert.equal(report.failed, 0, report.errors.join('; '));
      assert.ok(report.maxMs < 3000, `slowest request ${report.maxMs} ms`);
      assert.ok((report.byDomain.global ?? 0) > 0);
    } finally {
      mesh.signal('regional-eastus', 'SIGCONT');
    }
  });

  it('serves a new identity from regional after one fill, and never a wrong answer when it cannot be filled', async () => {
    const gw = mesh.tokenClient('gateway-eastus');
    // Let the gateway's breaker for regional-eastus close again after the hang.
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      const out = await acquire(gw, cached);
      if (out.response?.faultDomain === 'regional/eastus') break;
      await sleep(200);
    }
    const fresh = await mesh.addWorkload('fresh-worker');
    const first = await acquire(gw, fresh);
    assert.equal(first.response?.faultDomain, 'regional/eastus', first.error?.details);

    const uncached = await mesh.addWorkload('uncached-worker');
    const regional = mesh.tokenClient('regional-eastus');
    mesh.signal('global', 'SIGSTOP');
    try {
      const direct = await acquire(regional, uncached, 3000);
      assert.equal(direct.error?.code, status.UNAVAILABLE, 'regional cannot fill the miss');
      assert.equal(direct.trailers?.get('authmesh-reason')[0], 'cache-miss-unfillable');
      const through = await acquire(gw, uncached, 3000);
      console.log(`      uncached identity with global hung: ${through.error ? `${status[through.error.code]} "${through.error.details}"` : through.response?.faultDomain} in ${Math.round(through.ms)} ms`);
      assert.equal(through.response, undefined, 'no domain can vouch for the identity');
      assert.equal(through.error?.code, status.UNAVAILABLE);
      assert.ok(through.ms < 3500);
      // The cached identity is unaffected.
      const stillCached = await acquire(gw, cached);
      assert.equal(stillCached.response?.faultDomain, 'regional/eastus', stillCached.error?.details);
    } finally {
      mesh.signal('global', 'SIGCONT');
    }
    const after = await acquire(gw, uncached, 5000);
    assert.ok(after.response, `served once global is back: ${after.error?.details}`);
  });
});
