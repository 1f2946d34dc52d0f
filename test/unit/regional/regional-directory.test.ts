import assert from 'node:assert/strict';
import { ManualClock } from '../../../lib/clock/index.js';
import { OAuthError } from '../../../lib/errors/index.js';
import { DirectoryCache } from '../../../services/regional/directory-cache.js';
import { RegionalDirectory } from '../../../services/regional/regional-directory.js';
import { FakeDirectory, makeIdentity, makeTenant } from '../../support/fake-directory.js';
import { settle } from './step-sleep.js';

function setup(): { clock: ManualClock; cache: DirectoryCache; global: FakeDirectory; directory: RegionalDirectory } {
  const clock = new ManualClock();
  const global = new FakeDirectory();
  global.putTenant(makeTenant('t1'));
  global.putIdentity(makeIdentity('t1', 'cached'));
  const cache = new DirectoryCache({ capacity: 100, clock });
  cache.applySnapshot({ revision: global.revision, tenants: [...global.tenants.values()], identities: [...global.identities.values()], signingKeys: [] });
  global.putIdentity(makeIdentity('t1', 'fresh'));
  const directory = new RegionalDirectory({ cache, source: global, region: 'eastus', clock });
  return { clock, cache, global, directory };
}

const isUnfillable = (err: unknown): boolean =>
  err instanceof OAuthError && err.code === 'temporarily_unavailable' && err.reason === 'cache-miss-unfillable';

describe('RegionalDirectory', () => {
  it('answers a cached identity without calling global, even while global is unreachable', async () => {
    const { global, directory } = setup();
    global.reachable = false;
    const result = await directory.lookup('t1', 'cached');
    assert.equal(result.identity?.clientId, 'cached');
    assert.equal(global.calls.lookupIdentity, 0);
  });

  it('fills a miss from global once and then answers from the cache', async () => {
    const { global, directory } = setup();
    const first = await directory.lookup('t1', 'fresh');
    const second = await directory.lookup('t1', 'fresh');
    assert.equal(first.identity?.clientId, 'fresh');
    assert.equal(second.identity?.clientId, 'fresh');
    assert.equal(global.calls.lookupIdentity, 1);
  });

  it('makes one fetch for 100 concurrent misses of the same client', async () => {
    const { global, directory } = setup();
    global.holdLookups();
    const waiting = Array.from({ length: 100 }, () => directory.lookup('t1', 'fresh'));
    await settle();
    assert.equal(directory.fillsInFlight, 1);
    global.releaseLookups();
    const results = await Promise.all(waiting);
    assert.equal(global.calls.lookupIdentity, 1);
    assert.ok(results.every((r) => r.identity?.clientId === 'fresh'));
    assert.equal(directory.fillsInFlight, 0);
  });

  it('answers cache-miss-unfillable when global cannot be reached for a miss', async () => {
    const { global, directory } = setup();
    global.reachable = false;
    await assert.rejects(directory.lookup('t1', 'fresh'), isUnfillable);
  });

  it('fails every waiting caller with cache-miss-unfillable when the shared fill fails', async () => {
    const { global, directory } = setup();
    global.holdLookups();
    const waiting = Array.from({ length: 10 }, () => directory.lookup('t1', 'fresh'));
    await settle();
    global.reachable = false;
    global.releaseLookups();
    const outcomes = await Promise.allSettled(waiting);
    assert.ok(outcomes.every((o) => o.status === 'rejected' && isUnfillable(o.reason)));
    assert.equal(global.calls.lookupIdentity, 1);
  });

  it('gives up at the caller deadline while the fill goes on and still fills the cache', async () => {
    const { clock, global, directory } = setup();
    global.holdLookups();
    const controller = new AbortController();
    const waiting = directory.lookup('t1', 'fresh', { deadline: clock.now() + 60_000, signal: controller.signal });
    await settle();
    controller.abort();
    await assert.rejects(waiting, isUnfillable);
    await assert.rejects(directory.lookup('t1', 'fresh', { deadline: clock.now() }), isUnfillable);
    global.releaseLookups();
    await settle();
    global.reachable = false;
    const later = await directory.lookup('t1', 'fresh');
    assert.equal(later.identity?.clientId, 'fresh');
    assert.equal(global.calls.lookupIdentity, 1);
  });

  it('caches an unknown client briefly as a negative answer', async () => {
    const { clock, global, directory } = setup();
    assert.equal((await directory.lookup('t1', 'nobody')).identity, undefined);
    assert.equal((await directory.lookup('t1', 'nobody')).identity, undefined);
    assert.equal(global.calls.lookupIdentity, 1);
    clock.advance(5000);
    await directory.lookup('t1', 'nobody');
    assert.equal(global.calls.lookupIdentity, 2);
  });

  it('answers an unknown tenant with no tenant and no identity, in the region without asking global', async () => {
    const { cache, global, directory } = setup();
    const result = await directory.lookup('nope', 'x');
    assert.equal(result.tenant, undefined);
    assert.equal(result.identity, undefined);
    assert.equal(global.calls.lookupIdentity, 0);
    assert.equal(cache.size, 1, 'nothing is cached for it');
  });

  it('serves a disable that arrived on the watch during the fill over the older fill answer', async () => {
    const { cache, global, directory } = setup();
    global.holdLookups();
    const waiting = directory.lookup('t1', 'fresh');
    await settle();
    // The fill answers with the state before the disable (revision 3); the watch delivers revision 4.
    const before = global.revision;
    cache.applyChange({ revision: before + 1, headRevision: before + 1, identity: makeIdentity('t1', 'fresh', { enabled: false }) });
    global.releaseLookups();
    const result = await waiting;
    assert.equal(result.identity?.enabled, false);
  });
});
