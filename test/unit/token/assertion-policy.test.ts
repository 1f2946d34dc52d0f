import assert from 'node:assert/strict';
import { OAuthError } from '../../../lib/errors/index.js';
import { AssertionPolicy } from '../../../lib/token/index.js';

describe('AssertionPolicy', () => {
  it('refuses a jti seen before until exp plus the skew, per client', () => {
    const p = new AssertionPolicy();
    assert.equal(p.firstUse('t1', 'c1', 'j1', 1000, 900), true);
    assert.equal(p.firstUse('t1', 'c1', 'j1', 1000, 950), false);
    assert.equal(p.firstUse('t1', 'c2', 'j1', 1000, 950), true, 'another client may use the same jti');
    assert.equal(p.firstUse('t1', 'c1', 'j1', 1000, 1300), false, 'still within the 300 s skew after exp');
    assert.equal(p.firstUse('t1', 'c1', 'j1', 1000, 1301), true, 'past exp and skew it could not verify anyway');
  });

  it('answers overloaded rather than forgetting an unexpired jti when full, and makes room once ids expire', () => {
    const p = new AssertionPolicy({ replayCapacity: 2 });
    assert.equal(p.firstUse('t', 'c', 'a', 1000, 900), true);
    assert.equal(p.firstUse('t', 'c', 'b', 2000, 900), true);
    assert.throws(() => p.firstUse('t', 'c', 'x', 2000, 900), (err: unknown) => err instanceof OAuthError && err.code === 'temporarily_unavailable' && err.reason === 'overloaded');
    assert.equal(p.firstUse('t', 'c', 'a', 1000, 950), false, 'the held ids are still refused');
    assert.equal(p.firstUse('t', 'c', 'x', 2000, 1301), true, 'a once expired, so x fits');
    assert.equal(p.remembered, 2);
  });

  it('rejects a cap or capacity that is not a positive integer', () => {
    assert.throws(() => new AssertionPolicy({ maxLifetimeSeconds: 0 }), RangeError);
    assert.throws(() => new AssertionPolicy({ replayCapacity: 1.5 }), RangeError);
  });
});
