import assert from 'node:assert/strict';
import { cacheKey, IdentityCache, type CacheEntry } from '../../../services/regional/identity-cache.js';
import { KeyHasher } from '../../../services/regional/identity-key.js';
import { makeIdentity } from '../../support/fake-directory.js';

const entry = (clientId: string, revision = 1, tenantId = 't1'): CacheEntry => ({
  tenantId,
  clientId,
  identity: makeIdentity(tenantId, clientId),
  revision,
  validatedAtMs: 0,
});

/** A hasher with few distinct hashes, so that most keys collide and probe runs are long and wrap around the table's end. */
class CollidingHasher extends KeyHasher {
  constructor(private readonly distinct: number) {
    super(new Int32Array([1, 2]));
  }

  override hash(tenantNo: number, clientId: string): number {
    return -1 - (Math.abs(super.hash(tenantNo, clientId)) % this.distinct);
  }
}

/** The eviction rules on a Map in insertion order, to compare the table with. */
class ReferenceCache {
  readonly map = new Map<string, { entry: CacheEntry; used: boolean }>();
  readonly evicted: string[] = [];

  constructor(private readonly capacity: number) {}

  set(e: CacheEntry): void {
    const key = cacheKey(e.tenantId, e.clientId);
    this.map.delete(key);
    this.map.set(key, { entry: e, used: false });
    while (this.map.size > this.capacity) {
      const [oldestKey, slot] = this.map.entries().next().value as [string, { entry: CacheEntry; used: boolean }];
      this.map.delete(oldestKey);
      if (slot.used && oldestKey !== key) {
        slot.used = false;
        this.map.set(oldestKey, slot);
        continue;
      }
      this.evicted.push(oldestKey);
    }
  }
}

/** A small deterministic generator, so a failing sequence can be replayed. */
const random = (seed: number) => (): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
};

describe('IdentityCache', () => {
  it('evicts the least recently used entry when past capacity', () => {
    const evicted: string[] = [];
    const cache = new IdentityCache(2, (e) => evicted.push(e.clientId));
    cache.set(entry('a'));
    cache.set(entry('b'));
    cache.get('t1', 'a');
    cache.set(entry('c'));
    assert.deepEqual(evicted, ['b']);
    assert.equal(cache.size, 2);
    assert.ok(cache.has('t1', 'a'));
    assert.ok(cache.has('t1', 'c'));
    assert.equal(cache.evictions, 1);
  });

  it('does not count peek or replace as a use when choosing what to evict', () => {
    const cache = new IdentityCache(2);
    cache.set(entry('a'));
    cache.set(entry('b'));
    cache.peek('t1', 'a');
    cache.replace(entry('a', 2));
    cache.set(entry('c'));
    assert.equal(cache.has('t1', 'a'), false);
    assert.equal(cache.peek('t1', 'b')?.clientId, 'b');
  });

  it('never holds more than its capacity whatever the order of inserts', () => {
    const cache = new IdentityCache(10);
    for (let i = 0; i < 1000; i += 1) cache.set(entry(`c${i % 37}`));
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

  it('finds every key when all keys share a handful of hashes, before and after deletes', () => {
    const cache = new IdentityCache(100, undefined, new CollidingHasher(3));
    for (let i = 0; i < 60; i += 1) cache.set(entry(`c${i}`));
    for (let i = 0; i < 60; i += 3) assert.equal(cache.delete('t1', `c${i}`), true);
    for (let i = 0; i < 60; i += 1) assert.equal(cache.peek('t1', `c${i}`)?.clientId, i % 3 === 0 ? undefined : `c${i}`);
    assert.equal(cache.size, 40);
    assert.equal(cache.delete('t1', 'c0'), false);
  });

  it('compares the whole client id when it is long, wide or a prefix of another', () => {
    const cache = new IdentityCache(100, undefined, new CollidingHasher(1));
    const long = 'x'.repeat(60);
    const ids = ['a', 'a\u0000', 'ab', long, `${long}y`, `${'x'.repeat(59)}z`, 'ünïcødé', 'ü', '\u0101', 'x'.repeat(36), 'x'.repeat(37), `${'x'.repeat(35)}y`];
    for (const id of ids) cache.set(entry(id));
    for (const id of ids) assert.equal(cache.peek('t1', id)?.clientId, id);
    assert.equal(cache.peek('t1', 'x'.repeat(35)), undefined);
    assert.equal(cache.peek('t1', 'x'.repeat(38)), undefined);
    assert.equal(cache.peek('t1', `${'x'.repeat(36)}y`), undefined);
    assert.equal(cache.peek('t1', '\u0100'), undefined);
  });

  it('holds a 36-character UUID inline and compares a 37-character or wide id as a string', () => {
    const hasher = new KeyHasher(new Int32Array([1, 2]));
    const uuid = '00000000-0000-4000-8000-000000000001';
    hasher.hash(1, uuid);
    assert.equal(hasher.inline, true);
    assert.equal(hasher.wordCount, 9);
    hasher.hash(1, `${uuid}x`);
    assert.equal(hasher.inline, false);
    hasher.hash(1, `${uuid.slice(1)}\u0100`);
    assert.equal(hasher.inline, false);
    const cache = new IdentityCache(10, undefined, new CollidingHasher(1));
    for (const id of [uuid, `${uuid}x`, `${uuid.slice(0, 35)}2`]) cache.set(entry(id));
    assert.equal(cache.peek('t1', uuid)?.clientId, uuid);
    assert.equal(cache.peek('t1', `${uuid}x`)?.clientId, `${uuid}x`);
    assert.equal(cache.peek('t1', `${uuid.slice(0, 35)}2`)?.clientId, `${uuid.slice(0, 35)}2`);
    assert.equal(cache.peek('t1', `${uuid}y`), undefined);
  });

  it('keeps each key findable whatever its used and negative flags, which share a word with its length', () => {
    const cache = new IdentityCache(100, undefined, new CollidingHasher(1));
    const ids = [...Array.from({ length: 41 }, (_, n) => 'x'.repeat(n)), 'wide\u0100', 'x'.repeat(60)];
    const negative = (clientId: string, revision: number): CacheEntry => ({ tenantId: 't1', clientId, identity: undefined, revision, validatedAtMs: 1, expiresAtMs: 1000 });
    ids.forEach((id, i) => cache.set(i % 2 === 0 ? negative(id, 1) : entry(id)));
    for (const id of ids) assert.notEqual(cache.lookup('t1', id, 0), -1);
    ids.forEach((id, i) => cache.replace(i % 2 === 0 ? entry(id, 2) : negative(id, 2)));
    ids.forEach((id, i) => {
      const slot = cache.lookup('t1', id, 500);
      assert.equal(cache.entryAt(slot).clientId, id);
      assert.equal(cache.entryAt(slot).revision, 2);
      assert.equal(cache.validatedAtMsAt(slot), i % 2 === 0 ? 0 : 1);
      assert.equal(cache.lookup('t1', id, 1000), i % 2 === 0 ? slot : -1);
    });
    assert.equal(cache.peek('t1', 'x'.repeat(41)), undefined);
    assert.equal(cache.peek('t1', 'wide\u0101'), undefined);
  });

  it('keeps the same client id of two tenants apart, and forgets a tenant with its last entry', () => {
    const cache = new IdentityCache(10, undefined, new CollidingHasher(1));
    cache.set(entry('app', 1, 't1'));
    cache.set(entry('app', 2, 't2'));
    assert.equal(cache.peek('t1', 'app')?.revision, 1);
    assert.equal(cache.peek('t2', 'app')?.revision, 2);
    cache.delete('t1', 'app');
    cache.set(entry('app', 3, 't3'));
    assert.equal(cache.peek('t1', 'app'), undefined);
    assert.equal(cache.peek('t2', 'app')?.revision, 2);
    assert.equal(cache.peek('t3', 'app')?.revision, 3);
  });

  it('grows its table while filling, keeping every entry and the order of age', () => {
    const cache = new IdentityCache(1000);
    assert.equal(cache.tableSize, 16);
    for (let i = 0; i < 1000; i += 1) cache.set(entry(`c${i}`));
    assert.equal(cache.tableSize, 2048);
    assert.deepEqual(
      [...cache.values()].map((e) => e.clientId),
      Array.from({ length: 1000 }, (_, i) => `c${i}`),
    );
    cache.clear();
    assert.equal(cache.size, 0);
    assert.equal(cache.tableSize, 16);
    assert.equal(cache.peek('t1', 'c1'), undefined);
  });

  it('tells a lookup of an expired negative answer from a live one, with the validation time', () => {
    const cache = new IdentityCache(10);
    cache.set({ tenantId: 't1', clientId: 'gone', identity: undefined, revision: 1, validatedAtMs: 100, expiresAtMs: 200 });
    cache.set({ ...entry('app'), validatedAtMs: 150 });
    const slot = cache.lookup('t1', 'gone', 199);
    assert.equal(cache.entryAt(slot).clientId, 'gone');
    assert.equal(cache.validatedAtMsAt(slot), 100);
    assert.equal(cache.lookup('t1', 'gone', 200), -1);
    assert.equal(cache.validatedAtMsAt(cache.lookup('t1', 'app', 1e12)), 150);
    assert.equal(cache.lookup('t1', 'nobody', 0), -1);
  });

  it('evicts, holds and orders entries as second-chance on a Map would, under random operations', () => {
    for (const distinct of [2, 50, 2 ** 30]) {
      const next = random(distinct);
      const evicted: string[] = [];
      const cache = new IdentityCache(40, (e) => evicted.push(cacheKey(e.tenantId, e.clientId)), new CollidingHasher(distinct));
      const reference = new ReferenceCache(40);
      for (let step = 0; step < 5000; step += 1) {
        const tenantId = `t${Math.floor(next() * 3)}`;
        const clientId = `c${Math.floor(next() * 80)}`;
        const key = cacheKey(tenantId, clientId);
        const op = next();
        if (op < 0.4) {
          const e = entry(clientId, step, tenantId);
          cache.set(e);
          reference.set(e);
        } else if (op < 0.55) {
          const e = entry(clientId, step, tenantId);
          if (reference.map.has(key)) reference.map.get(key)!.entry = e;
          else reference.set(e);
          cache.replace(e);
        } else if (op < 0.7) {
          assert.equal(cache.delete(tenantId, clientId), reference.map.delete(key));
        } else {
          const slot = reference.map.get(key);
          if (slot !== undefined) slot.used = true;
          assert.equal(cache.get(tenantId, clientId), slot?.entry);
        }
        assert.ok(cache.size <= 40);
        assert.equal(cache.size, reference.map.size);
      }
      assert.deepEqual([...cache.values()], [...reference.map.values()].map((s) => s.entry));
      assert.deepEqual(evicted, reference.evicted);
      assert.equal(cache.evictions, reference.evicted.length);
      assert.ok(cache.tableSize <= 64);
    }
  });
});
