import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { DEFAULT_ISSUER, buildAssertion } from '../../lib/token/index.js';
import { TestMesh, acquire, type AcquireOutcome, type TestWorkload } from '../support/mesh-harness.js';
import { DIST, sleep } from '../support/spawn-service.js';

const BIN = path.resolve(DIST, '..', 'bin', 'authmesh.js');

/** A new assertion (fresh `jti`) for the workload. */
async function fresh(w: TestWorkload): Promise<TestWorkload> {
  const { assertion } = await buildAssertion({ tenantId: w.tenantId, clientId: w.clientId, issuer: DEFAULT_ISSUER, privateKey: w.privateKey, lifetimeSeconds: 300 });
  return { ...w, assertion };
}

function refusedAsReplay(out: AcquireOutcome): boolean {
  return out.error?.code === status.UNAUTHENTICATED && out.trailers?.get('oauth-error')[0] === 'invalid_client';
}

/**
 * Per-jti replay refusal set through the admin API on real processes (global, regional, gateway):
 * the flag travels from global's store through the watch to the regional cache, which then refuses
 * a second use of one assertion; an application without the flag keeps reusing its assertion.
 */
describe('assertion replay refusal set through the admin API (system)', function () {
  this.timeout(90_000);
  const mesh = new TestMesh();
  let strict: TestWorkload;
  let lax: TestWorkload;

  before(async () => {
    await mesh.startGlobal();
    strict = await mesh.addWorkload('replay-strict');
    lax = await mesh.addWorkload('replay-lax');
    await mesh.startRegional('eastus');
    await mesh.startGateway('eastus');
  });

  after(() => mesh.stop());

  it('refuses the second use of an assertion with UNAUTHENTICATED and invalid_client once the app refuses reuse, and lets an app without it reuse', async () => {
    const gateway = mesh.tokenClient('gateway-eastus');
    // Before the flag: the strict app reuses its assertion like any other, and its identity is in the regional cache.
    for (let i = 0; i < 2; i += 1) {
      const out = await acquire(gateway, strict);
      assert.ok(out.response !== undefined, out.error?.details);
    }

    const { revision } = await mesh.adminCall<{ revision: number }>((c) => (m, o, cb) =>
      c.setAppAssertionReuse({ tenantId: strict.tenantId, clientId: strict.clientId, refuseAssertionReuse: true }, m, o, cb),
    );
    const app = await mesh.adminCall<{ refuseAssertionReuse: boolean }>((c) => (m, o, cb) => c.getApp({ tenantId: strict.tenantId, clientId: strict.clientId }, m, o, cb));
    assert.equal(app.refuseAssertionReuse, true);

    // Wait (bounded) until the change has reached the regional through the watch: a fresh assertion's replay is refused.
    const deadline = Date.now() + 20_000;
    let probes = 0;
    for (;;) {
      probes += 1;
      const probe = await fresh(strict);
      const first = await acquire(gateway, probe);
      assert.ok(first.response !== undefined, first.error?.details);
      if (refusedAsReplay(await acquire(gateway, probe))) break;
      assert.ok(Date.now() < deadline, `revision ${revision} (refuse_assertion_reuse) did not reach the regional within 20 s`);
      await sleep(100);
    }
    console.log(`      refusal in force after ${probes} probe(s) at revision ${revision}`);

    const once = await fresh(strict);
    const first = await acquire(gateway, once);
    assert.ok(first.response !== undefined, first.error?.details);
    const second = await acquire(gateway, once);
    assert.equal(second.response, undefined, 'a replayed assertion got a token');
    assert.equal(second.error?.code, status.UNAUTHENTICATED, second.error?.details);
    assert.equal(second.trailers?.get('oauth-error')[0], 'invalid_client');

    for (let i = 0; i < 3; i += 1) {
      const out = await acquire(gateway, lax);
      assert.ok(out.response !== undefined, `the app without the flag could not reuse its assertion: ${out.error?.details}`);
    }

    // Turned off again through the CLI, the strict app can reuse.
    const cli = spawnSync(
      process.execPath,
      [BIN, 'app', 'allow-reuse', '--tenant', strict.tenantId, '--client', strict.clientId, '--json', '--admin', mesh.address('global'), '--admin-token', mesh.adminToken],
      { encoding: 'utf8', env: { ...process.env, AUTHMESH_MESH_DIR: mesh.dir } },
    );
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal((JSON.parse(cli.stdout) as { refuseAssertionReuse: boolean }).refuseAssertionReuse, false);
    const shown = await mesh.adminCall<{ refuseAssertionReuse: boolean }>((c) => (m, o, cb) => c.getApp({ tenantId: strict.tenantId, clientId: strict.clientId }, m, o, cb));
    assert.equal(shown.refuseAssertionReuse, false);
    const again = await fresh(strict);
    const offDeadline = Date.now() + 20_000;
    for (;;) {
      const a = await acquire(gateway, again);
      const b = await acquire(gateway, again);
      if (a.response !== undefined && b.response !== undefined) break;
      assert.ok(Date.now() < offDeadline, 'turning refusal off did not reach the regional within 20 s');
      await sleep(100);
    }
  });
  it('refuses replays for every app of a tenant once the tenant refuses reuse', async () => {
    const gateway = mesh.tokenClient('gateway-eastus');
    await mesh.adminCall((c) => (m, o, cb) => c.setTenantAssertionReuse({ tenantId: lax.tenantId, refuseAssertionReuse: true }, m, o, cb));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const probe = await fresh(lax);
      const first = await acquire(gateway, probe);
      assert.ok(first.response !== undefined, first.error?.details);
      if (refusedAsReplay(await acquire(gateway, probe))) break;
      assert.ok(Date.now() < deadline, 'the tenant setting did not reach the regional within 20 s');
      await sleep(100);
    }
    const app = await mesh.adminCall<{ refuseAssertionReuse: boolean; tenantRefusesAssertionReuse: boolean }>((c) => (m, o, cb) =>
      c.getApp({ tenantId: lax.tenantId, clientId: lax.clientId }, m, o, cb),
    );
    assert.deepEqual([app.refuseAssertionReuse, app.tenantRefusesAssertionReuse], [false, true]);
    await mesh.adminCall((c) => (m, o, cb) => c.setTenantAssertionReuse({ tenantId: lax.tenantId, refuseAssertionReuse: false }, m, o, cb));
  });
});
