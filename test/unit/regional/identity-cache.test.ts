import assert from 'node:assert/strict';
import { cacheKey, IdentityCache, type CacheEntry } from '../../../services/regional/identity-cache.js';
import { makeIdentity } from '../../support/fake-directory.js';

const entry = (clientId: string, revision = 1): CacheEntry => ({
  tenantId: 't1',
  clientId,
  identity: makeIdentity('t1', clientId),
  revision,
  validatedAtMs: 0,
});

describe('IdentityCache', () => {
  it('evicts the least recently used entry when past capacity', () => {
    const evicted: string[] = [];
    const cache = new IdentityCache(2, (e) => evicted.push(e.clientId));
    cache.set(cacheKey('t1', 'a'), entry('a'));
    cache.set(cacheKey('t1', 'b'), entry('b'));
    cache.get(cacheKey('t1', 'a'));
    cache.set(cacheKey('t1', 'c'), entry('c'));
    assert.deepEqual(evicted, ['b']);
    assert.equal(cache.size, 2);
    assert.ok(cache.has(cacheKey('t1', 'a')));
    assert.ok(cache.has(cacheKey('t1', 'c')));
    assert.equal(cache.evictions, 1);
  });

  it('does not count peek or replace as a use when choosing what to evict', () => {
    const cache = new IdentityCache(2);
    cache.set(cacheKey('t1', 'a'), entry('a'));
    cache.set(cacheKey('t1', 'b'), entry('b'));
    cache.peek(cacheKey('t1', 'a'));
    cache.replace(cacheKey('t1', 'a'), entry('a', 2));
    cache.set(cacheKey('t1', 'c'), entry('c'));
    assert.equal(cache.has(cacheKey('t1', 'a')), false);
    assert.equal(cache.peek(cacheKey('t1', 'b'))?.clientId, 'b');
  });

  it('never holds more than its capacity whatever the order of inserts', () => {
    const cache = new IdentityCache(10);
    for (let i = 0; i < 1000; i += 1) cache.set(cacheKey('t1', `c${i % 37}`), entry(`c${i % 37}`));
    assert.equal(cache.size, 10);
    assert.deepEqual(
      [...cache.values()].map((e) => e.clientId),
      [990, 991, 992, 993, 994, 995, 996, 997, 998, 999].map((i) => `c${i % 37}`),
    );
  });

  it('refuses a capacity below one', () => {
    assert.throws(() => new IdentityCache(0), RangeError);
  });

  it('keeps keys of different tenants apart', () => {
    assert.notEqual(cacheKey('a', 'b/c'), cacheKey('a/b', 'c'));
  });
});
