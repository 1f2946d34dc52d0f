import assert from 'node:assert/strict';
import { ManualClock } from '../../../lib/clock/index.js';
import { DirectoryCache } from '../../../services/regional/directory-cache.js';
import { Refresher } from '../../../services/regional/refresh.js';
import { FakeDirectory, makeIdentity, makeTenant } from '../../support/fake-directory.js';

const TTL = 60_000;

function setup(): { clock: ManualClock; global: FakeDirectory; cache: DirectoryCache; refresher: Refresher } {
  const clock = new ManualClock();
  const global = new FakeDirectory();
  global.putTenant(makeTenant('t1'));
  for (const id of ['a', 'b', 'c']) global.putIdentity(makeIdentity('t1', id));
  const cache = new DirectoryCache({ capacity: 100, clock });
  cache.applySnapshot({ revision: global.revision, tenants: [...global.tenants.values()], identities: [...global.identities.values()], signingKeys: [] });
  const refresher = new Refresher({ cache, source: global, region: 'eastus', ttlMs: TTL, concurrency: 2 });
  return { clock, global, cache, refresher };
}

describe('Refresher', () => {
  it('has nothing to do while entries are younger than the refresh point', async () => {
    const { clock, global, refresher } = setup();
    clock.advance(TTL * 0.5);
    const round = await refresher.runOnce();
    assert.equal(round.due, 0);
    assert.equal(global.calls.lookupIdentity, 0);
  });

  it('revalidates entries before their TTL and picks up changes the watch missed', async () => {
    const { clock, global, cache, refresher } = setup();
    // A change the cache never saw (as if the watch were down when it happened).
    global.identities.set('t1/b', makeIdentity('t1', 'b', { enabled: false }));
    global.revision += 1;
    clock.advance(TTL * 0.8);
    const round = await refresher.runOnce();
    assert.deepEqual({ due: round.due, refreshed: round.refreshed, unreachable: round.globalUnreachable }, { due: 3, refreshed: 3, unreachable: false });
    assert.equal(cache.read('t1', 'b')?.entry.identity?.enabled, false);
    assert.equal(cache.read('t1', 'a')?.dataAgeMs, 0);
  });

  it('keeps every entry serving while global is unreachable and resumes when it returns', async () => {
    const { clock, global, cache, refresher } = setup();
    global.reachable = false;
    clock.advance(TTL * 3);
    const down = await refresher.runOnce();
    assert.equal(down.globalUnreachable, true);
    assert.equal(down.refreshed, 0);
    for (const id of ['a', 'b', 'c']) assert.equal(cache.read('t1', id)?.entry.identity?.enabled, true);
    assert.equal(cache.read('t1', 'a')?.dataAgeMs, TTL * 3);
    assert.ok(global.calls.lookupIdentity <= 2, 'a round stops at the first failure of each worker');

    global.reachable = true;
    const up = await refresher.runOnce();
    assert.equal(up.refreshed, 3);
    assert.equal(cache.read('t1', 'a')?.dataAgeMs, 0);
  });

  it('does not refresh entries while the watch keeps the cache in sync', async () => {
    const { clock, cache, refresher } = setup();
    clock.advance(TTL * 2);
    cache.headRevision = cache.revision;
    cache.markSynced();
    assert.equal(refresher.dueEntries().length, 0);
  });

  it('refreshes the oldest entries first, at most one batch per round', async () => {
    const { clock, global, cache } = setup();
    clock.advance(TTL);
    cache.applyLookup('t1', 'a', { revision: global.revision, tenant: makeTenant('t1'), identity: makeIdentity('t1', 'a') });
    clock.advance(TTL);
    const refresher = new Refresher({ cache, source: global, region: 'eastus', ttlMs: TTL, batchSize: 2 });
    assert.deepEqual(refresher.dueEntries().map((e) => e.clientId).sort(), ['b', 'c']);
  });
});
