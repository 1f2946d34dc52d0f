import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { createBreaker, type DomainBreaker } from '../../../gateway/routing/breaker-factory.js';
import { FaultDomain } from '../../../gateway/routing/fault-domain.js';
import { checkOutlierOptions, detectOutliers, type Ejection } from '../../../gateway/routing/outlier-detection.js';
import { ManualClock } from '../../../lib/clock/index.js';
import { FakeTokenBackend } from '../../support/fake-token-backend.js';

const BYTES = Buffer.from('req');
const opts = { deadline: Date.now() + 60_000 };

describe('detectOutliers (consecutive attempt timeouts)', () => {
  let clock: ManualClock;
  let backend: FakeTokenBackend;
  let breaker: DomainBreaker;
  let ejections: Ejection[];

  beforeEach(() => {
    clock = new ManualClock(1_000_000);
    backend = new FakeTokenBackend('global');
    // A window that never opens on its own here: 1000 answers keep the fault percentage low.
    breaker = createBreaker(backend, { resetTimeout: 5, volumeThreshold: 5, errorThresholdPercentage: 50 });
    ejections = [];
    detectOutliers('global', breaker, clock, { consecutiveTimeouts: 5 }, (e) => ejections.push(e));
  });

  afterEach(() => breaker.shutdown());

  const fire = (): Promise<unknown> => breaker.fire('acquireToken', BYTES, opts).catch((e: unknown) => e);
  const answers = async (n: number): Promise<void> => {
    backend.set({ kind: 'answer' });
    for (let i = 0; i < n; i += 1) await fire();
  };
  const timeouts = async (n: number, stepMs = 100): Promise<void> => {
    backend.set({ kind: 'fail', code: status.DEADLINE_EXCEEDED });
    for (let i = 0; i < n; i += 1) {
      await fire();
      clock.advance(stepMs);
    }
  };

  it('opens the breaker at the 5th timeout in a row although 1000 answers fill its window', async () => {
    await answers(1000);
    await timeouts(4);
    assert.equal(breaker.opened, false, 'the 4th timeout ejected');
    await timeouts(1);
    assert.equal(breaker.opened, true);
    assert.deepEqual(ejections, [{ domain: 'global', timeouts: 5, firstTimeoutAtMs: 1_000_000, atMs: 1_000_400 }]);
  });

  it('does not eject when an answer breaks the run', async () => {
    await answers(1000);
    await timeouts(4);
    await answers(1);
    await timeouts(4);
    assert.equal(breaker.opened, false);
    assert.deepEqual(ejections, []);
  });

  it('counts neither UNAVAILABLE nor caller errors as timeouts; a caller error (an answer) ends the run', async () => {
    await answers(1000);
    await timeouts(3);
    backend.set({ kind: 'fail', code: status.UNAVAILABLE });
    for (let i = 0; i < 10; i += 1) await fire();
    assert.equal(breaker.opened, false, 'UNAVAILABLE counted as a timeout');
    backend.set({ kind: 'fail', code: status.UNAUTHENTICATED, trailers: { 'oauth-error': 'invalid_client' } });
    await fire();
    await timeouts(4);
    assert.equal(breaker.opened, false, 'the caller error did not end the run');
    await timeouts(1);
    assert.equal(breaker.opened, true);
  });

  it('recovers through the half-open probe once the domain answers again, and reopens when the probe times out', async () => {
    await answers(100);
    await timeouts(5);
    assert.equal(breaker.opened, true);
    await new Promise((resolve) => breaker.once('halfOpen', resolve));
    await timeouts(1);
    assert.equal(breaker.opened, true, 'a probe that timed out left the breaker closed');
    await new Promise((resolve) => breaker.once('halfOpen', resolve));
    await answers(1);
    assert.equal(breaker.closed, true);
    assert.equal(ejections.length, 1);
  });

  it('is off with 0 and refuses a negative or fractional count', async () => {
    const other = createBreaker(new FakeTokenBackend('regional/eastus').set({ kind: 'fail', code: status.DEADLINE_EXCEEDED }), { volumeThreshold: 1000 });
    try {
      detectOutliers('regional/eastus', other, clock, { consecutiveTimeouts: 0 }, (e) => ejections.push(e));
      for (let i = 0; i < 50; i += 1) await other.fire('acquireToken', BYTES, opts).catch(() => undefined);
      assert.equal(other.opened, false);
    } finally {
      other.shutdown();
    }
    assert.deepEqual(checkOutlierOptions({ consecutiveTimeouts: -1 }).length, 1);
    assert.deepEqual(checkOutlierOptions({ consecutiveTimeouts: 1.5 }).length, 1);
  });

  it('makes a FaultDomain report the ejection and its breaker open', async () => {
    const fake = new FakeTokenBackend('global');
    const domain = new FaultDomain({ priority: 1, backend: fake, clock, outlier: { consecutiveTimeouts: 3 } });
    const seen: Ejection[] = [];
    const states: string[] = [];
    domain.on('ejected', (e) => seen.push(e));
    domain.on('breaker', (s) => states.push(s));
    try {
      for (let i = 0; i < 200; i += 1) await domain.breaker.fire('acquireToken', BYTES, opts);
      fake.set({ kind: 'fail', code: status.DEADLINE_EXCEEDED });
      for (let i = 0; i < 3; i += 1) await domain.breaker.fire('acquireToken', BYTES, opts).catch(() => undefined);
      assert.equal(domain.view().breaker, 'open');
      assert.deepEqual(states, ['open']);
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.timeouts, 3);
    } finally {
      domain.close();
    }
  });
});
