import assert from 'node:assert/strict';
import { ManualClock } from '../../../lib/clock/index.js';
import { DirectoryCache } from '../../../services/regional/directory-cache.js';
import { cacheKey } from '../../../services/regional/identity-cache.js';
import { makeIdentity, makeTenant } from '../../support/fake-directory.js';

function setup(capacity = 100): { clock: ManualClock; cache: DirectoryCache } {
  const clock = new ManualClock();
  const cache = new DirectoryCache({ capacity, clock, negativeTtlMs: 5000 });
  cache.applySnapshot({ revision: 10, tenants: [makeTenant('t1')], identities: [makeIdentity('t1', 'app')], signingKeys: [] });
  return { clock, cache };
}

describe('DirectoryCache', () => {
  it('answers a client from the snapshot', () => {
    const { cache } = setup();
    const read = cache.read('t1', 'app');
    assert.equal(read?.entry.identity?.enabled, true);
    assert.equal(read?.tenant?.tenantId, 't1');
    assert.equal(cache.revision, 10);
    assert.equal(cache.loaded, true);
  });

  it('applies a disable from the watch to a cached identity', () => {
    const { cache } = setup();
    const outcome = cache.applyChange({ revision: 11, headRevision: 11, identity: makeIdentity('t1', 'app', { enabled: false }) });
    assert.equal(outcome, 'applied');
    assert.equal(cache.read('t1', 'app')?.entry.identity?.enabled, false);
    assert.equal(cache.revision, 11);
  });

  it('keeps the newer change when a slower lookup answers with an older revision', () => {
    const { cache } = setup();
    cache.applyChange({ revision: 12, headRevision: 12, identity: makeIdentity('t1', 'app', { enabled: false }) });
    cache.applyLookup('t1', 'app', { revision: 11, tenant: makeTenant('t1'), identity: makeIdentity('t1', 'app') });
    assert.equal(cache.read('t1', 'app')?.entry.identity?.enabled, false);
  });

  it('keeps a removal as a negative entry that an older fill cannot undo', () => {
    const { cache } = setup();
    cache.beginFill(cacheKey('t1', 'gone'));
    cache.applyChange({ revision: 12, headRevision: 12, identityRemoved: { tenantId: 't1', clientId: 'gone' } });
    cache.applyLookup('t1', 'gone', { revision: 11, tenant: makeTenant('t1'), identity: makeIdentity('t1', 'gone') });
    cache.endFill(cacheKey('t1', 'gone'));
    const read = cache.read('t1', 'gone');
    assert.ok(read);
    assert.equal(read.entry.identity, undefined);
  });

  it('ignores changes to identities it neither holds nor is filling', () => {
    const { cache } = setup();
    const outcome = cache.applyChange({ revision: 11, headRevision: 11, identity: makeIdentity('t1', 'other') });
    assert.equal(outcome, 'not-cached');
    assert.equal(cache.read('t1', 'other'), undefined);
    assert.equal(cache.revision, 11);
  });

  it('stops trusting a negative answer after its TTL', () => {
    const { clock, cache } = setup();
    cache.applyLookup('t1', 'nobody', { revision: 10, tenant: makeTenant('t1'), identity: undefined });
    assert.equal(cache.read('t1', 'nobody')?.entry.identity, undefined);
    clock.advance(5000);
    assert.equal(cache.read('t1', 'nobody'), undefined);
  });

  it('turns a negative entry into the identity when the watch says it was created', () => {
    const { cache } = setup();
    cache.applyLookup('t1', 'new', { revision: 10, tenant: makeTenant('t1'), identity: undefined });
    cache.applyChange({ revision: 11, headRevision: 11, identity: makeIdentity('t1', 'new') });
    assert.equal(cache.read('t1', 'new')?.entry.identity?.clientId, 'new');
  });

  it('drops identities a reloaded snapshot does not contain', () => {
    const { cache } = setup();
    cache.applyLookup('t1', 'filled', { revision: 10, tenant: makeTenant('t1'), identity: makeIdentity('t1', 'filled') });
    cache.applySnapshot({ revision: 20, tenants: [makeTenant('t1')], identities: [makeIdentity('t1', 'app')], signingKeys: [] });
    assert.equal(cache.read('t1', 'filled'), undefined);
    assert.ok(cache.read('t1', 'app'));
  });

  it('reports data age from the later of the entry validation and the last sync', () => {
    const { clock, cache } = setup();
    clock.advance(60_000);
    assert.equal(cache.read('t1', 'app')?.dataAgeMs, 60_000);
    cache.headRevision = 10;
    cache.markSynced();
    assert.equal(cache.read('t1', 'app')?.dataAgeMs, 0);
  });

  it('replaces the signing key set with the newest one', () => {
    const { cache } = setup();
    const key = { kid: 'k1', domain: 'global', publicJwkJson: '{}', createdAtMs: 0, retiredAtMs: 0 };
    cache.applyChange({ revision: 11, headRevision: 11, signingKeys: { keys: [key] } });
    assert.deepEqual(cache.signingKeys().map((k) => k.kid), ['k1']);
  });

  it('keeps every identity when negative answers for unknown clients far exceed both capacities', () => {
    const clock = new ManualClock();
    const cache = new DirectoryCache({ capacity: 10, clock, negativeCapacity: 20 });
    const real = Array.from({ length: 10 }, (_, i) => makeIdentity('t1', `real-${i}`));
    cache.applySnapshot({ revision: 10, tenants: [makeTenant('t1')], identities: real, signingKeys: [] });
    for (let i = 0; i < 1000; i += 1) cache.applyLookup('t1', `random-${i}`, { revision: 10, tenant: makeTenant('t1'), identity: undefined });
    for (const identity of real) assert.equal(cache.read('t1', identity.clientId)?.entry.identity?.clientId, identity.clientId);
    assert.equal(cache.negatives.size, 20);
    assert.equal(cache.read('t1', 'random-999')?.entry.identity, undefined, 'the newest negative answers are kept');
    assert.ok(cache.read('t1', 'random-999'));
    assert.equal(cache.read('t1', 'random-0'), undefined, 'the oldest went first');
  });

  it('never evicts the negative entry a fill in flight is guarded by', () => {
    const { cache } = setup();
    const small = new DirectoryCache({ capacity: 10, clock: new ManualClock(), negativeCapacity: 2 });
    small.applySnapshot({ revision: 10, tenants: [makeTenant('t1')], identities: [], signingKeys: [] });
    small.beginFill(cacheKey('t1', 'gone'));
    small.applyChange({ revision: 12, headRevision: 12, identityRemoved: { tenantId: 't1', clientId: 'gone' } });
    for (let i = 0; i < 10; i += 1) small.applyLookup('t1', `random-${i}`, { revision: 12, tenant: makeTenant('t1'), identity: undefined });
    small.applyLookup('t1', 'gone', { revision: 11, tenant: makeTenant('t1'), identity: makeIdentity('t1', 'gone') });
    small.endFill(cacheKey('t1', 'gone'));
    assert.equal(small.read('t1', 'gone')?.entry.identity, undefined, 'the removal still wins over the older fill');
    assert.ok(cache.read('t1', 'app'));
  });
});
