import assert from 'node:assert/strict';
import { ManualClock } from '../../../lib/clock/index.js';
import { DomainStats, percentile } from '../../../gateway/routing/stats.js';

describe('DomainStats', () => {
  it('counts requests, faults, caller errors and failovers since start', () => {
    const s = new DomainStats(new ManualClock());
    s.recordRequest();
    s.recordSuccess(2);
    s.recordRequest();
    s.recordFault();
    s.recordRequest();
    s.recordCallerError();
    s.recordFailover();
    assert.deepEqual(s.totals, { requests: 3, errors: 1, callerErrors: 1, failovers: 1 });
  });

  it('reports the recent error rate with caller errors counted as answers', () => {
    const s = new DomainStats(new ManualClock());
    s.recordSuccess(1);
    s.recordCallerError();
    s.recordFault();
    s.recordFault();
    const r = s.recent();
    assert.equal(r.attempts, 4);
    assert.equal(r.errorRate, 0.5);
  });

  it('reports p50 and p99 of recent successful attempts', () => {
    const s = new DomainStats(new ManualClock());
    for (let i = 1; i <= 100; i += 1) s.recordSuccess(i);
    const r = s.recent();
    assert.equal(r.p50Ms, 50);
    assert.equal(r.p99Ms, 99);
    assert.equal(r.latencySamples, 100);
  });

  it('counts an answer nobody waited for (a hedge won) without its latency', () => {
    const s = new DomainStats(new ManualClock());
    for (let i = 0; i < 50; i += 1) s.recordSuccess(5);
    for (let i = 0; i < 50; i += 1) s.recordSuccess(undefined);
    const r = s.recent();
    assert.equal(r.attempts, 100);
    assert.equal(r.p99Ms, 5);
    assert.equal(r.latencySamples, 50);
  });

  it('forgets figures once they age out of the window', () => {
    const clock = new ManualClock(0);
    const s = new DomainStats(clock, { windowMs: 1000, buckets: 10 });
    s.recordFault();
    clock.advance(500);
    s.recordSuccess(7);
    assert.equal(s.recent().attempts, 2);
    clock.advance(600);
    assert.deepEqual(s.recent(), { attempts: 1, errorRate: 0, p50Ms: 7, p99Ms: 7, latencySamples: 1, lastAttemptAt: 500 });
    clock.advance(1000);
    assert.equal(s.recent().attempts, 0);
    assert.equal(s.recent().p99Ms, 0);
    assert.equal(s.recent().lastAttemptAt, 500, 'the last attempt is remembered past the window');
  });

  it('forgets faults and latencies alike when told to (a refresh answered well)', () => {
    const clock = new ManualClock(0);
    const s = new DomainStats(clock);
    for (let i = 0; i < 30; i += 1) s.recordSuccess(90);
    s.recordFault();
    clock.advance(3000);
    s.forgetFigures();
    s.recordSuccess(4);
    assert.deepEqual(s.recent(), { attempts: 1, errorRate: 0, p50Ms: 4, p99Ms: 4, latencySamples: 1, lastAttemptAt: 3000 });
    assert.equal(s.totals.errors, 1, 'the totals since start stay');
  });

  it('forgets recent faults but keeps latency when told to (breaker closed)', () => {
    const s = new DomainStats(new ManualClock());
    s.recordFault();
    s.recordFault();
    s.recordSuccess(3);
    s.forgetFaults();
    const r = s.recent();
    assert.equal(r.attempts, 1);
    assert.equal(r.errorRate, 0);
    assert.equal(r.p99Ms, 3);
    assert.equal(s.totals.errors, 2);
  });

  it('keeps a bounded latency sample per bucket', () => {
    const s = new DomainStats(new ManualClock(), { samplesPerBucket: 8, random: () => 0.99 });
    for (let i = 0; i < 1000; i += 1) s.recordSuccess(i);
    assert.equal(s.recent().latencySamples, 8);
    assert.equal(s.recent().attempts, 1000);
  });
});

describe('percentile', () => {
  it('uses the nearest rank and answers 0 for no samples', () => {
    assert.equal(percentile([], 0.5), 0);
    assert.equal(percentile([5], 0.99), 5);
    assert.equal(percentile([1, 2, 3, 4], 0.5), 2);
  });
});
