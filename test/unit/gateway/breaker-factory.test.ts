import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import CircuitBreaker from 'opossum';
import { checkBreakerOptions, createBreaker, DEFAULT_BREAKER_OPTIONS, isBreakerError, type DomainBreaker } from '../../../gateway/routing/breaker-factory.js';
import { FakeTokenBackend } from '../../support/fake-token-backend.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const opts = { deadline: Date.now() + 60_000 };
const BYTES = Buffer.from('req');
const failing = async () => {
  throw new Error('down');
};

// opossum keeps real timers for its reset timeout, so these tests use ms-scale timeouts.
describe('createBreaker (opossum behaviour pinned)', () => {
  const made: (DomainBreaker | CircuitBreaker)[] = [];
  const track = <T extends DomainBreaker | CircuitBreaker>(b: T): T => (made.push(b), b);
  afterEach(() => {
    for (const b of made.splice(0)) b.shutdown();
  });

  it('refuses options opossum would misread: volumeThreshold 0, capacity 0, resetTimeout 0', () => {
    assert.deepEqual(checkBreakerOptions(DEFAULT_BREAKER_OPTIONS), []);
    for (const bad of [{ volumeThreshold: 0 }, { capacity: 0 }, { resetTimeout: 0 }, { errorThresholdPercentage: 0 }, { rollingCountTimeout: 1001 }]) {
      assert.throws(() => createBreaker(new FakeTokenBackend('d'), bad), RangeError, JSON.stringify(bad));
    }
  });

  it('pins: opossum treats timeout 0 as "no timeout", not as 0 ms', async () => {
    const raw = track(new CircuitBreaker(() => sleep(30).then(() => 'late'), { timeout: 0 }));
    assert.equal(await raw.fire(), 'late');
  });

  it('pins: opossum with volumeThreshold 0 opens on the very first failure', async () => {
    const raw = track(new CircuitBreaker(failing, { volumeThreshold: 0 }));
    await assert.rejects(raw.fire());
    assert.equal(raw.opened, true);
  });

  it('stays closed below volumeThreshold and opens once it is reached with faults', async () => {
    const backend = new FakeTokenBackend('d').set({ kind: 'fail', code: status.UNAVAILABLE });
    const b = track(createBreaker(backend, { volumeThreshold: 5 }));
    for (let i = 0; i < 4; i += 1) await assert.rejects(b.fire('acquireToken', BYTES, opts));
    assert.equal(b.opened, false);
    await assert.rejects(b.fire('acquireToken', BYTES, opts));
    assert.equal(b.opened, true);
    await assert.rejects(b.fire('acquireToken', BYTES, opts), (e: unknown) => isBreakerError(e) && (e as { code: string }).code === 'EOPENBREAKER');
    assert.equal(backend.calls.length, 5);
  });

  it('pins: errorFilter true makes opossum emit success while fire() still rejects; caller errors never open it', async () => {
    const backend = new FakeTokenBackend('d').set({ kind: 'fail', code: status.PERMISSION_DENIED, trailers: { 'oauth-error': 'unauthorized_client' } });
    const b = track(createBreaker(backend, { volumeThreshold: 1 }));
    let successes = 0;
    b.on('success', () => (successes += 1));
    for (let i = 0; i < 20; i += 1) {
      await assert.rejects(b.fire('acquireToken', BYTES, opts), (e: { code: number; metadata: { get(k: string): unknown[] } }) => {
        assert.equal(e.code, status.PERMISSION_DENIED);
        assert.deepEqual(e.metadata.get('oauth-error'), ['unauthorized_client']);
        return true;
      });
    }
    assert.equal(successes, 20);
    assert.equal(b.stats.failures, 0);
    assert.equal(b.closed, true);
  });

  it('pins: half-open lets exactly one call through and one success closes the breaker', async () => {
    const backend = new FakeTokenBackend('d').set({ kind: 'fail', code: status.UNAVAILABLE });
    const b = track(createBreaker(backend, { volumeThreshold: 1, resetTimeout: 10 }));
    await assert.rejects(b.fire('acquireToken', BYTES, opts));
    assert.equal(b.opened, true);
    await sleep(25);
    assert.equal(b.halfOpen, true);
    backend.set({ kind: 'stall' });
    const probe = b.fire('acquireToken', BYTES, opts);
    await assert.rejects(b.fire('acquireToken', BYTES, opts), (e: unknown) => isBreakerError(e));
    backend.release();
    await probe;
    assert.equal(b.closed, true);
  });

  it('pins: a failed probe reopens the breaker, a caller error on the probe closes it', async () => {
    const backend = new FakeTokenBackend('d').set({ kind: 'fail', code: status.UNAVAILABLE });
    const b = track(createBreaker(backend, { volumeThreshold: 1, resetTimeout: 10 }));
    await assert.rejects(b.fire('acquireToken', BYTES, opts));
    await sleep(25);
    await assert.rejects(b.fire('acquireToken', BYTES, opts));
    assert.equal(b.opened, true);
    await sleep(25);
    backend.set({ kind: 'fail', code: status.INVALID_ARGUMENT, trailers: { 'oauth-error': 'invalid_request' } });
    await assert.rejects(b.fire('acquireToken', BYTES, opts));
    assert.equal(b.closed, true);
  });

  it('starts a closed breaker from a clean window, so one failure after an outage does not reopen it', async () => {
    const backend = new FakeTokenBackend('d').set({ kind: 'fail', code: status.UNAVAILABLE });
    const b = track(createBreaker(backend, { volumeThreshold: 5, resetTimeout: 10 }));
    for (let i = 0; i < 20; i += 1) await assert.rejects(b.fire('acquireToken', BYTES, opts));
    assert.equal(b.opened, true);
    await sleep(25);
    backend.set({ kind: 'answer' });
    await b.fire('acquireToken', BYTES, opts);
    assert.equal(b.closed, true);
    assert.equal(b.stats.failures, 0, 'the outage is gone from the window');
    backend.set({ kind: 'fail', code: status.UNAVAILABLE });
    await assert.rejects(b.fire('acquireToken', BYTES, opts));
    assert.equal(b.closed, true, 'one failure in a fresh window is below the volume threshold');
  });

  it('pins: a per-breaker AbortController aborts every call in flight on one timeout; ours has none', async () => {
    const controller = new AbortController();
    const raw = track(new CircuitBreaker((ms: number) => sleep(ms), { timeout: 10, abortController: controller }));
    const signal = controller.signal;
    const slowA = raw.fire(50).catch(() => undefined);
    const fastB = raw.fire(30).catch(() => undefined);
    await Promise.all([slowA, fastB]);
    assert.equal(signal.aborted, true);
    const ours = track(createBreaker(new FakeTokenBackend('d')));
    // @types/opossum 8 lacks getAbortController(); the option is what it returns.
    assert.equal((ours as unknown as { options: { abortController?: unknown } }).options.abortController, undefined);
  });

  it('cancelling one stalled attempt leaves the other attempts alone and is not a fault', async () => {
    const backend = new FakeTokenBackend('d').set({ kind: 'stall' });
    const b = track(createBreaker(backend, { volumeThreshold: 1 }));
    const a = new AbortController();
    const first = b.fire('acquireToken', BYTES, { ...opts, signal: a.signal });
    const second = b.fire('acquireToken', BYTES, opts);
    a.abort();
    await assert.rejects(first, (e: { callerCancelled?: boolean }) => e.callerCancelled === true);
    assert.equal(backend.stalled, 1);
    backend.release();
    assert.deepEqual((await second).bytes, Buffer.from('d'));
    assert.equal(b.closed, true);
  });

  it('pins: breakers made per request never open; one breaker per domain does', async () => {
    for (let i = 0; i < 10; i += 1) {
      const perRequest = new CircuitBreaker(failing, { volumeThreshold: 3 });
      await assert.rejects(perRequest.fire());
      assert.equal(perRequest.opened, false);
      perRequest.shutdown();
    }
    const once = track(new CircuitBreaker(failing, { volumeThreshold: 3 }));
    for (let i = 0; i < 3; i += 1) await assert.rejects(once.fire());
    assert.equal(once.opened, true);
  });

  it('pins: opossum healthCheck can open a breaker but never close it', async () => {
    const raw = track(new CircuitBreaker(failing, { volumeThreshold: 1, resetTimeout: 60_000 }));
    await assert.rejects(raw.fire());
    assert.equal(raw.opened, true);
    raw.healthCheck(() => Promise.resolve(), 60_000);
    await sleep(5);
    assert.equal(raw.opened, true);
  });
});
