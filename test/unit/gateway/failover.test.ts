import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Metadata, status } from '@grpc/grpc-js';
import { ManualClock } from '../../../lib/clock/index.js';
import { Failover, type FailoverOptions } from '../../../gateway/routing/failover.js';
import type { ForwardResult } from '../../../gateway/routing/forwarder.js';
import { FaultDomain } from '../../../gateway/routing/fault-domain.js';
import { SnapshotSource } from '../../../gateway/routing/health-snapshot.js';
import { HealthWatch, type WatchStream } from '../../../gateway/routing/health-watch.js';
import { RetryBudget } from '../../../gateway/routing/retry-budget.js';
import { FakeTokenBackend } from '../../support/fake-token-backend.js';

const R = 'regional/eastus';
const BYTES = Buffer.from('request-bytes');

class FakeStream extends EventEmitter implements WatchStream {
  cancel(): void {
    this.emit('error', new Error('cancelled'));
  }
}

function build(opts: { failover?: FailoverOptions; budget?: RetryBudget; volumeThreshold?: number; resetTimeout?: number } = {}) {
  const clock = new ManualClock(1_000_000);
  const backends = [new FakeTokenBackend(R), new FakeTokenBackend('global'), new FakeTokenBackend('backup')];
  const streams = new Map<string, FakeStream>();
  const domains = backends.map(
    (backend, priority) =>
      new FaultDomain({
        priority,
        backend,
        clock,
        breaker: { volumeThreshold: opts.volumeThreshold ?? 5, resetTimeout: opts.resetTimeout ?? 60_000 },
        healthWatch: (onChange) =>
          new HealthWatch({
            serviceName: 'authmesh.token.v1.TokenService',
            onChange,
            openWatch: () => {
              const s = new FakeStream();
              streams.set(backend.name, s);
              return s;
            },
            timers: { setTimeout: () => undefined, clearTimeout: () => undefined },
          }),
      }),
  );
  for (const d of domains) d.start();
  const snapshots = new SnapshotSource(domains, clock, 0);
  const budget = opts.budget ?? new RetryBudget({}, clock);
  const failover = new Failover(domains, snapshots, budget, clock, opts.failover);
  const done = (): void => domains.forEach((d) => d.close());
  return { clock, backends, domains, streams, failover, budget, done };
}

/** Regional down; a moment of contention left global with slow figures, backup has fast ones. */
function slowGlobalFigures(c: ReturnType<typeof build>): FaultDomain {
  const [regional, global, backup] = c.domains;
  regional!.breaker.open();
  for (let i = 0; i < 30; i += 1) global!.stats.recordSuccess(400);
  for (let i = 0; i < 30; i += 1) backup!.stats.recordSuccess(5);
  return global!;
}

/** Answers the calls a backend holds, and the next ones, and lets their outcomes be recorded. */
async function answerStalled(backend: FakeTokenBackend): Promise<void> {
  backend.set({ kind: 'answer' });
  backend.release();
  await new Promise((resolve) => setImmediate(resolve));
}

const trailer = (r: ForwardResult, key: string): string | undefined => r.trailers.get(key)[0]?.toString();

describe('Failover', () => {
  let ctx: ReturnType<typeof build>;
  afterEach(() => ctx?.done());

  it('rejects the call, not throwing at the caller, when no route can be planned', async () => {
    ctx = build();
    const broken = { current: (): never => { throw new Error('no snapshot'); } } as unknown as SnapshotSource;
    const failover = new Failover(ctx.domains, broken, ctx.budget, ctx.clock);
    let call: Promise<ForwardResult> | undefined;
    assert.doesNotThrow(() => {
      call = failover.forward({ method: 'acquireToken', bytes: BYTES });
    });
    await assert.rejects(call!, /no snapshot/);
  });

  it('answers from the home regional with its bytes and trailers plus fault domain and attempts', async () => {
    ctx = build();
    ctx.backends[0]!.set({ kind: 'answer', trailers: { 'authmesh-data-age-ms': '40' } });
    const r = await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    assert.equal(r.ok, true);
    assert.deepEqual(r.ok && r.bytes, Buffer.from(R));
    assert.equal(trailer(r, 'authmesh-data-age-ms'), '40');
    assert.equal(trailer(r, 'authmesh-fault-domain'), R);
    assert.equal(trailer(r, 'authmesh-attempts'), '1');
    assert.equal(ctx.backends[0]!.calls[0]!.bytes, BYTES, 'the request bytes are forwarded as they are');
  });

  it('fails over to global in the same call when the regional is UNAVAILABLE', async () => {
    ctx = build();
    ctx.backends[0]!.set({ kind: 'fail', code: status.UNAVAILABLE, trailers: { 'authmesh-reason': 'cache-miss-unfillable' } });
    const r = await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    assert.equal(r.ok, true);
    assert.equal(trailer(r, 'authmesh-fault-domain'), 'global');
    assert.equal(trailer(r, 'authmesh-attempts'), '2');
    assert.equal(ctx.domains[0]!.stats.totals.failovers, 1);
    assert.equal(ctx.domains[0]!.stats.totals.errors, 1);
  });

  for (const code of [status.DEADLINE_EXCEEDED, status.RESOURCE_EXHAUSTED, status.INTERNAL]) {
    it(`fails over on ${status[code]}`, async () => {
      ctx = build();
      ctx.backends[0]!.set({ kind: 'fail', code });
      const r = await ctx.failover.forward({ method: 'getJwks', bytes: BYTES });
      assert.equal(r.domain, 'global');
    });
  }

  it('returns a caller error at once with its trailers, tries nothing else and counts no fault', async () => {
    ctx = build({ volumeThreshold: 1 });
    ctx.backends[0]!.set({ kind: 'fail', code: status.UNAUTHENTICATED, details: 'bad assertion', trailers: { 'oauth-error': 'invalid_client' } });
    for (let i = 0; i < 10; i += 1) {
      const r = await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.code, status.UNAUTHENTICATED);
      assert.equal(!r.ok && r.details, 'bad assertion');
      assert.equal(trailer(r, 'oauth-error'), 'invalid_client');
      assert.equal(trailer(r, 'authmesh-fault-domain'), R);
    }
    assert.equal(ctx.backends[1]!.calls.length, 0);
    assert.equal(ctx.domains[0]!.breaker.closed, true);
    assert.equal(ctx.domains[0]!.stats.totals.callerErrors, 10);
    assert.equal(ctx.domains[0]!.stats.totals.errors, 0);
  });

  it('answers UNAVAILABLE no-healthy-domain naming each domain and its status, and logs what each said, when all fail', async () => {
    const logged: string[] = [];
    ctx = build({ failover: { onNoAnswer: (said) => logged.push(...said) } });
    ctx.backends[0]!.set({ kind: 'fail', code: status.UNAVAILABLE, details: 'connection refused' });
    ctx.backends[1]!.set({ kind: 'fail', code: status.DEADLINE_EXCEEDED, details: 'deadline exceeded' });
    ctx.backends[2]!.set({ kind: 'fail', code: status.UNAVAILABLE, details: 'data too old' });
    const r = await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.code, status.UNAVAILABLE);
    assert.equal(trailer(r, 'oauth-error'), 'temporarily_unavailable');
    assert.equal(trailer(r, 'authmesh-reason'), 'no-healthy-domain');
    assert.equal(trailer(r, 'authmesh-attempts'), '3');
    const details = !r.ok ? r.details : '';
    assert.match(details, /regional\/eastus: UNAVAILABLE/);
    assert.match(details, /global: DEADLINE_EXCEEDED/);
    assert.match(details, /backup: UNAVAILABLE/);
    assert.doesNotMatch(details, /connection refused|data too old/, 'the domains\' own error text stays in the log');
    assert.deepEqual(logged, ['regional/eastus: UNAVAILABLE connection refused', 'global: DEADLINE_EXCEEDED deadline exceeded', 'backup: UNAVAILABLE data too old']);
  });

  it('ends a call two domains fail alike (query of death) with invalid_request, tries no third and does not count the second failure', async () => {
    ctx = build({ volumeThreshold: 1 });
    ctx.backends[0]!.set({ kind: 'fail', code: status.INTERNAL, details: 'Error deserializing request: index out of range' });
    ctx.backends[1]!.set({ kind: 'fail', code: status.INTERNAL, details: 'Error deserializing request: index out of range' });
    for (let i = 0; i < 20; i += 1) {
      const r = await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
      assert.equal(!r.ok && r.code, status.INVALID_ARGUMENT);
      assert.equal(trailer(r, 'oauth-error'), 'invalid_request');
      assert.equal(trailer(r, 'authmesh-reason'), 'request-fails-everywhere');
      assert.doesNotMatch(!r.ok ? r.details : '', /deserializing/);
      if (!ctx.domains[0]!.breaker.closed) break;
    }
    assert.equal(ctx.backends[2]!.calls.length, 0, 'backup is never asked');
    assert.equal(ctx.domains[1]!.breaker.closed, true, 'the second failure is not counted against global');
    assert.equal(ctx.domains[1]!.stats.totals.errors, 0);
    assert.equal(ctx.domains[2]!.breaker.closed, true);
  });

  it('still fails over past two domains that fail with different non-transport statuses', async () => {
    ctx = build();
    ctx.backends[0]!.set({ kind: 'fail', code: status.INTERNAL, details: 'bug' });
    ctx.backends[1]!.set({ kind: 'fail', code: status.UNKNOWN, details: 'other bug' });
    const r = await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    assert.equal(r.ok, true);
    assert.equal(r.domain, 'backup');
  });

  it('cuts each attempt to the caller deadline and caps it at the attempt timeout', async () => {
    ctx = build({ failover: { attemptTimeoutMs: 1000, defaultDeadlineMs: 5000 } });
    const now = ctx.clock.now();
    await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES, deadline: now + 300 });
    assert.equal(ctx.backends[0]!.calls[0]!.options.deadline, now + 300);
    await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES, deadline: now + 30_000 });
    assert.equal(ctx.backends[0]!.calls[1]!.options.deadline, now + 1000);
  });

  it('uses the default deadline when the caller sets none', async () => {
    ctx = build({ failover: { attemptTimeoutMs: 10_000, defaultDeadlineMs: 2500 } });
    await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    assert.equal(ctx.backends[0]!.calls[0]!.options.deadline, ctx.clock.now() + 2500);
  });

  it('does not start an attempt once the caller deadline has passed', async () => {
    ctx = build();
    const r = await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES, deadline: ctx.clock.now() - 1 });
    assert.equal(r.ok, false);
    assert.equal(ctx.backends[0]!.calls.length, 0);
    assert.match(!r.ok ? r.details : '', /deadline reached/);
  });

  it('stops failing over into domains whose own attempts mostly fail', async () => {
    const budget = new RetryBudget({ maxTokens: 4, refillPerSecond: 0 });
    ctx = build({ budget, volumeThreshold: 1000 });
    for (const b of ctx.backends) b.set({ kind: 'fail', code: status.UNAVAILABLE });
    await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    assert.equal(budget.tokensOf('global'), 2);
    const globalCalls = ctx.backends[1]!.calls.length;
    const backupCalls = ctx.backends[2]!.calls.length;
    const r = await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.details : '', /global: not tried, retry budget exhausted/);
    assert.equal(ctx.backends[1]!.calls.length, globalCalls, 'no failover into global');
    assert.match(!r.ok ? r.details : '', /backup: not tried, retry budget exhausted/);
    assert.equal(ctx.backends[2]!.calls.length, backupCalls, 'nor into backup');
  });

  it('keeps failing over to a healthy domain while the first one fails every call', async () => {
    const budget = new RetryBudget({ maxTokens: 4 });
    ctx = build({ budget, volumeThreshold: 1000 });
    ctx.backends[0]!.set({ kind: 'fail', code: status.UNAVAILABLE });
    for (let i = 0; i < 20; i += 1) {
      const r = await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
      assert.equal(r.domain, 'global', `call ${i}`);
    }
  });

  it('fails over into global again once its budget, drained by an earlier outage, refills with time', async () => {
    ctx = build({ volumeThreshold: 1000 });
    // An earlier outage of global cost its bucket 60 of 100 tokens; global answers again now.
    for (let i = 0; i < 60; i += 1) ctx.budget.onFailure('global');
    ctx.backends[0]!.set({ kind: 'fail', code: status.UNAVAILABLE });
    const before = await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    assert.equal(before.domain, 'backup', 'global is refused while its bucket is below half');
    assert.equal(before.ok, true);
    // Global gets no calls of its own (regional ranks first), so only time can refill it.
    ctx.clock.advance(3_000);
    const after = await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    assert.equal(after.ok, true);
    assert.equal(after.domain, 'global');
  });

  it('moves on when a domain refuses the gateway itself (UNAUTHENTICATED without oauth-error)', async () => {
    ctx = build();
    ctx.backends[0]!.set({ kind: 'fail', code: status.UNAUTHENTICATED, details: 'missing or wrong mesh token' });
    const r = await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    assert.equal(r.ok, true);
    assert.equal(r.domain, 'global');
  });

  it('skips a domain whose breaker is open without calling it', async () => {
    ctx = build();
    ctx.domains[0]!.breaker.open();
    const r = await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    assert.equal(r.domain, 'global');
    assert.equal(trailer(r, 'authmesh-attempts'), '1');
    assert.equal(ctx.backends[0]!.calls.length, 0);
  });

  it('skips a domain whose health watch says NOT_SERVING, and returns to it on SERVING', async () => {
    ctx = build();
    ctx.streams.get(R)!.emit('data', { status: 'NOT_SERVING' });
    assert.equal((await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES })).domain, 'global');
    assert.equal(ctx.backends[0]!.calls.length, 0);
    ctx.streams.get(R)!.emit('data', { status: 'SERVING' });
    assert.equal((await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES })).domain, R);
  });

  it('sends a half-open domain a probe copy while the caller is served by the next domain', async () => {
    // opossum's reset timer is real; a 1 ms reset timeout drives the real transition.
    ctx = build({ resetTimeout: 1 });
    const d = ctx.domains[0]!;
    await new Promise<void>((resolve) => {
      d.breaker.once('halfOpen', () => resolve());
      d.breaker.open();
    });
    ctx.backends[0]!.set({ kind: 'stall' });
    const r = await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    assert.equal(r.domain, 'global', 'the caller does not wait on the probe');
    assert.equal(ctx.backends[0]!.calls.length, 1, 'one probe copy went to the half-open domain');
    assert.equal(d.probeInFlight, true);
    await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    assert.equal(ctx.backends[0]!.calls.length, 1, 'no second probe while one is out');
    ctx.backends[0]!.set({ kind: 'answer' });
    ctx.backends[0]!.release();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(d.breaker.closed, true);
    assert.equal((await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES })).domain, R);
  });

  it('sends a refresh copy to a domain ranked behind on stale figures, and takes it back once it answers well', async () => {
    ctx = build();
    const global = slowGlobalFigures(ctx);
    ctx.clock.advance(500);
    assert.equal((await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES })).domain, 'backup');
    assert.equal(ctx.backends[1]!.calls.length, 0, 'figures from half a second ago are not stale yet');
    ctx.clock.advance(1000);
    ctx.backends[1]!.set({ kind: 'stall' });
    assert.equal((await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES })).domain, 'backup', 'the caller does not wait on the refresh');
    assert.equal(ctx.backends[1]!.calls.length, 1, 'one refresh copy went to global');
    assert.equal((await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES })).domain, 'backup');
    assert.equal(ctx.backends[1]!.calls.length, 1, 'no second refresh while one is out');
    await answerStalled(ctx.backends[1]!);
    assert.equal(global.stats.recent().latencySamples, 1, 'the old figures are gone');
    assert.equal((await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES })).domain, 'global');
  });

  it('keeps a domain ranked behind when its refresh is slow too', async () => {
    ctx = build();
    const global = slowGlobalFigures(ctx);
    ctx.clock.advance(1500);
    ctx.backends[1]!.set({ kind: 'stall' });
    await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    ctx.clock.advance(300);
    await answerStalled(ctx.backends[1]!);
    assert.equal(global.stats.recent().latencySamples, 31, 'a 300 ms answer is recorded beside the old figures');
    assert.equal((await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES })).domain, 'backup');
  });

  it('asks the next domain too once the first has not answered after hedgeAfterMs, and answers from it', async () => {
    ctx = build({ failover: { hedgeAfterMs: 1 } });
    ctx.backends[0]!.set({ kind: 'stall' });
    const r = await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    assert.equal(r.ok, true);
    assert.equal(r.domain, 'global');
    assert.equal(trailer(r, 'authmesh-attempts'), '2');
    assert.equal(ctx.backends[0]!.stalled, 1, 'the slow attempt keeps running, so its breaker still learns');
    ctx.backends[0]!.release(status.DEADLINE_EXCEEDED);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(ctx.budget.tokensOf(R), ctx.budget.maxTokens - 1, 'the hung attempt counted as a fault of regional');
  });

  it('replaces a hedge that failed at once, without waiting for the next hedge interval', async () => {
    ctx = build({ failover: { hedgeAfterMs: 300 } });
    ctx.backends[0]!.set({ kind: 'stall' });
    ctx.backends[1]!.set({ kind: 'stall' });
    const pending = ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    while (ctx.backends[1]!.calls.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    // The hedge to global fails while regional's attempt is still out.
    ctx.backends[1]!.release(status.UNAVAILABLE);
    for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(ctx.backends[2]!.calls.length, 1, 'backup was asked as soon as global failed');
    const r = await pending;
    assert.equal(r.domain, 'backup');
    assert.equal(trailer(r, 'authmesh-attempts'), '3');
    ctx.backends[0]!.release(status.DEADLINE_EXCEEDED);
  });

  it('does not hedge when the first domain answers in time', async () => {
    ctx = build({ failover: { hedgeAfterMs: 1_000 } });
    const r = await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES });
    assert.equal(r.domain, R);
    assert.equal(ctx.backends[1]!.calls.length, 0);
  });

  it('passes request metadata on to the domain', async () => {
    ctx = build();
    const md = new Metadata();
    md.set('traceparent', '00-abc-def-01');
    await ctx.failover.forward({ method: 'acquireToken', bytes: BYTES, metadata: md });
    assert.equal(ctx.backends[0]!.calls[0]!.options.metadata?.get('traceparent')[0], '00-abc-def-01');
  });
});
