import assert from 'node:assert/strict';
import { status, type ServiceError } from '@grpc/grpc-js';
import { RESOURCE, TestMesh, acquire } from '../support/mesh-harness.js';
import { sleep } from '../support/spawn-service.js';
import { feedRevisions } from '../support/change-feed.js';


/**
 * kill -9 of global in the middle of a burst of admin mutations from several concurrent callers:
 * after restart every acknowledged mutation is there, the change log has no gap, and regional
 * catches up and enforces what the burst changed.
 */
/** How a call fails when the server process is killed under it: the connection is gone. */
const LOST_CONNECTION: readonly status[] = [status.UNAVAILABLE, status.INTERNAL];

describe('durability: SIGKILL of global during an admin burst', function () {
  this.timeout(120_000);
  const mesh = new TestMesh({ meshTls: true });

  after(async () => {
    await mesh.stop();
  });

  it('keeps every acknowledged mutation, leaves no revision gap and regional converges', async () => {
    await mesh.startGlobal();
    const revoked = await mesh.addWorkload('revoked-in-burst');
    await mesh.startRegional('eastus');
    const regional = mesh.tokenClient('regional-eastus');
    assert.equal((await acquire(regional, revoked)).response?.faultDomain, 'regional/eastus', 'cached before the burst');
    const tenantId = mesh.tenantId;

    const acknowledged: { clientId: string; revision: number }[] = [];
    let revokeAck: number | undefined;
    let stop = false;
    let killed = false;
    const unexpected: string[] = [];
    const callers = 6;
    const perCaller = 200;
    const killAfterAcks = 60;
    const caller = async (n: number): Promise<void> => {
      if (n === 0) {
        const r = await mesh.adminCall<{ revision: number }>((c) => (m, o, cb) => c.revokeRole({ tenantId, clientId: revoked.clientId, resource: RESOURCE, role: 'Blob.Read' }, m, o, cb));
        revokeAck = r.revision;
      }
      for (let i = 0; i < perCaller && !stop; i += 1) {
        try {
          const r = await mesh.adminCall<{ clientId: string; revision: number }>((c) => (m, o, cb) => c.createApp({ tenantId, name: `burst-${n}-${i}` }, m, o, cb));
          acknowledged.push(r);
          if (acknowledged.length === killAfterAcks) {
            killed = true;
            void mesh.kill('global');
          }
        } catch (err) {
          // global is gone: the callers stop, as they would on UNAVAILABLE. Any other failure,
          // or any failure before the kill, is a bug.
          const e = err as ServiceError;
          if (!killed || !LOST_CONNECTION.includes(e.code)) unexpected.push(`${killed ? 'after' : 'before'} the kill: ${status[e.code]} ${e.details}`);
          stop = true;
        }
      }
    };
    await Promise.all(Array.from({ length: callers }, (_, n) => caller(n)));
    assert.deepEqual(unexpected, []);
    assert.ok(acknowledged.length >= killAfterAcks, `only ${acknowledged.length} acknowledged`);
    assert.ok(revokeAck !== undefined, 'the role revoke was acknowledged');

    await mesh.start('global');
    for (const ack of acknowledged) {
      const app = await mesh.adminCall<{ clientId: string }>((c) => (m, o, cb) => c.getApp({ tenantId, clientId: ack.clientId }, m, o, cb));
      assert.equal(app.clientId, ack.clientId);
    }
    const { revisions, head } = await feedRevisions(mesh.address('global'), mesh.adminToken, 10_000, mesh.credentialsAs('admin'));
    assert.deepEqual(revisions, Array.from({ length: head }, (_, i) => i + 1), 'revisions 1..head with no gap');
    assert.ok(head >= Math.max(revokeAck, ...acknowledged.map((a) => a.revision)));

    // Regional resumes its change feed: the burst's revoke is enforced there.
    const revokeUntil = Date.now() + 15_000;
    let refused = await acquire(regional, revoked);
    while (refused.error?.code !== status.PERMISSION_DENIED && refused.response === undefined && Date.now() < revokeUntil) {
      await sleep(200);
      refused = await acquire(regional, revoked);
    }
    assert.equal(refused.error?.code, status.PERMISSION_DENIED, `regional answered ${refused.response?.faultDomain ?? refused.error?.details} after the role was revoked`);
    // A mutation after the restart (revision > head) reaches regional too. The feed is applied in
    // revision order, so regional has caught up past the head of the burst.
    const late = await mesh.addWorkload('after-restart');
    // Regional's channel to global may still be in its reconnect backoff (at most 5 s) right after
    // the restart; until then a miss fails fast, which the gateway answers from elsewhere.
    const fillUntil = Date.now() + 15_000;
    let lateFill = await acquire(regional, late);
    while (lateFill.response === undefined && Date.now() < fillUntil) {
      await sleep(200);
      lateFill = await acquire(regional, late);
    }
    assert.equal(lateFill.response?.faultDomain, 'regional/eastus', lateFill.error?.details);
    await mesh.adminCall((c) => (m, o, cb) => c.setAppEnabled({ tenantId, clientId: late.clientId, enabled: false }, m, o, cb));
    const lateUntil = Date.now() + 5000;
    let lateOutcome = await acquire(regional, late);
    while (lateOutcome.response && Date.now() < lateUntil) {
      await sleep(100);
      lateOutcome = await acquire(regional, late);
    }
    assert.ok(lateOutcome.error, 'regional refuses an app disabled after the restart');
    console.log(`      ${acknowledged.length} creates + 1 revoke acknowledged by ${callers} callers before SIGKILL; head after restart ${head}, no gap; regional enforced the revoke and a later disable`);
  });
});
