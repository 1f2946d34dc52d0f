import assert from 'node:assert/strict';
import { RetryBudget } from '../../../gateway/routing/retry-budget.js';
import { ManualClock } from '../../../lib/clock/index.js';

describe('RetryBudget', () => {
  it('allows failovers into a domain while more than half of its tokens are left', () => {
    const b = new RetryBudget({ maxTokens: 10, tokenRatio: 0.1 }, new ManualClock());
    for (let i = 0; i < 4; i += 1) b.onFailure('global');
    assert.equal(b.allowFailover('global'), true);
    b.onFailure('global');
    assert.equal(b.tokensOf('global'), 5);
    assert.equal(b.allowFailover('global'), false);
    assert.equal(b.tokens, 5, 'the lowest bucket');
  });

  it('earns tokens back with successes, never above the max', () => {
    const b = new RetryBudget({ maxTokens: 10, tokenRatio: 0.5 }, new ManualClock());
    for (let i = 0; i < 5; i += 1) b.onFailure('global');
    b.onSuccess('global');
    b.onSuccess('global');
    assert.equal(b.tokensOf('global'), 6);
    assert.equal(b.allowFailover('global'), true);
    for (let i = 0; i < 100; i += 1) b.onSuccess('global');
    assert.equal(b.tokensOf('global'), 10);
  });

  it('stops failovers into a domain when most of its attempts fail, and keeps them when few do', () => {
    const b = new RetryBudget({}, new ManualClock());
    for (let i = 0; i < 1000; i += 1) {
      if (i % 4 === 0) b.onSuccess('global');
      else b.onFailure('global');
      if (i % 20 === 0) b.onFailure('backup');
      else b.onSuccess('backup');
    }
    assert.equal(b.allowFailover('global'), false);
    assert.equal(b.allowFailover('backup'), true);
  });

  it('keeps failing over to a healthy domain however many attempts a dead domain burns', () => {
    const b = new RetryBudget({ maxTokens: 10, tokenRatio: 0.1 }, new ManualClock());
    // A burst: 500 calls hit a hung regional at once, then all fail over together.
    for (let i = 0; i < 500; i += 1) b.onFailure('regional/eastus');
    for (let i = 0; i < 500; i += 1) {
      assert.equal(b.allowFailover('global'), true, `call ${i}`);
      b.onSuccess('global');
    }
    assert.equal(b.allowFailover('regional/eastus'), false);
  });

  it('never drops below zero and refuses nonsense options', () => {
    const b = new RetryBudget({ maxTokens: 2 }, new ManualClock());
    for (let i = 0; i < 10; i += 1) b.onFailure('global');
    assert.equal(b.tokensOf('global'), 0);
    assert.throws(() => new RetryBudget({ maxTokens: 0 }), RangeError);
    assert.throws(() => new RetryBudget({ tokenRatio: 0 }), RangeError);
    assert.throws(() => new RetryBudget({ refillPerSecond: -1 }), RangeError);
  });

  it('lets a drained domain take failovers again after time without faults, with no calls of its own', () => {
    const clock = new ManualClock();
    const b = new RetryBudget({ maxTokens: 10 }, clock);
    assert.equal(b.refillPerSecond, 0.5, 'maxTokens / 20 by default');
    for (let i = 0; i < 20; i += 1) b.onFailure('global');
    assert.equal(b.tokensOf('global'), 0);
    clock.advance(9_000);
    assert.equal(b.tokensOf('global'), 4.5);
    assert.equal(b.allowFailover('global'), false);
    clock.advance(2_000);
    assert.equal(b.allowFailover('global'), true);
    clock.advance(60_000);
    assert.equal(b.tokensOf('global'), 10, 'never above the max');
    assert.equal(b.tokens, 10);
  });

  it('keeps failovers stopped while faults come faster than the refill', () => {
    const clock = new ManualClock();
    const b = new RetryBudget({}, clock);
    // 100 attempts a second into global, half of them failing, for a minute.
    for (let i = 0; i < 6000; i += 1) {
      clock.advance(10);
      if (i % 2 === 0) b.onFailure('global');
      else b.onSuccess('global');
    }
    assert.equal(b.allowFailover('global'), false);
    assert.ok(b.tokensOf('global') < 1, `tokens ${b.tokensOf('global')}`);
  });

  it('refills with successes alone when refillPerSecond is 0, as gRFC A6 does', () => {
    const clock = new ManualClock();
    const b = new RetryBudget({ maxTokens: 10, refillPerSecond: 0 }, clock);
    for (let i = 0; i < 10; i += 1) b.onFailure('global');
    clock.advance(3_600_000);
    assert.equal(b.tokensOf('global'), 0);
  });
});
