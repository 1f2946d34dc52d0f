import assert from 'node:assert/strict';
import { RetryBudget } from '../../../gateway/retry-budget.js';

describe('RetryBudget', () => {
  it('allows failovers while more than half the tokens are left', () => {
    const b = new RetryBudget({ maxTokens: 10, tokenRatio: 0.1 });
    for (let i = 0; i < 4; i += 1) b.onFailure();
    assert.equal(b.allowFailover(), true);
    b.onFailure();
    assert.equal(b.tokens, 5);
    assert.equal(b.allowFailover(), false);
  });

  it('earns tokens back with successes, never above the max', () => {
    const b = new RetryBudget({ maxTokens: 10, tokenRatio: 0.5 });
    for (let i = 0; i < 5; i += 1) b.onFailure();
    b.onSuccess();
    b.onSuccess();
    assert.equal(b.tokens, 6);
    assert.equal(b.allowFailover(), true);
    for (let i = 0; i < 100; i += 1) b.onSuccess();
    assert.equal(b.tokens, 10);
  });

  it('stops failovers when most attempts fail, and keeps them when few do', () => {
    const mostFail = new RetryBudget();
    for (let i = 0; i < 1000; i += 1) {
      if (i % 4 === 0) mostFail.onSuccess();
      else mostFail.onFailure();
    }
    assert.equal(mostFail.allowFailover(), false);
    const fewFail = new RetryBudget();
    for (let i = 0; i < 1000; i += 1) {
      if (i % 20 === 0) fewFail.onFailure();
      else fewFail.onSuccess();
    }
    assert.equal(fewFail.allowFailover(), true);
  });

  it('never drops below zero and refuses nonsense options', () => {
    const b = new RetryBudget({ maxTokens: 2 });
    for (let i = 0; i < 10; i += 1) b.onFailure();
    assert.equal(b.tokens, 0);
    assert.throws(() => new RetryBudget({ maxTokens: 0 }), RangeError);
    assert.throws(() => new RetryBudget({ tokenRatio: 0 }), RangeError);
  });

  it('keeps failovers going when one domain is down and the failovers succeed', () => {
    const budget = new RetryBudget({ maxTokens: 10, tokenRatio: 0.1 });
    for (let i = 0; i < 1000; i += 1) {
      budget.onFailure(); // the dead domain
      assert.equal(budget.allowFailover(), true, `call ${i}`);
      budget.onSuccess(true); // the next domain answered
    }
    assert.ok(budget.tokens > 5);
  });
});
