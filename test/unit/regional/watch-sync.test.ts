import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import fc from 'fast-check';
import { ManualClock } from '../../../lib/clock/index.js';
import { DirectoryCache } from '../../../services/regional/directory-cache.js';
import { WatchSync, type SyncEvent } from '../../../services/regional/watch-sync.js';
import { FakeDirectory, makeIdentity, makeTenant } from '../../support/fake-directory.js';
import { settle, StepSleep } from './step-sleep.js';

interface Rig {
  clock: ManualClock;
  global: FakeDirectory;
  cache: DirectoryCache;
  sync: WatchSync;
  sleeper: StepSleep;
  events: SyncEvent[];
}

function rig(identities = ['a', 'b', 'c']): Rig {
  const clock = new ManualClock();
  const global = new FakeDirectory();
  global.putTenant(makeTenant('t1'));
  for (const id of identities) global.putIdentity(makeIdentity('t1', id));
  const cache = new DirectoryCache({ capacity: 1000, clock });
  const sleeper = new StepSleep();
  const events: SyncEvent[] = [];
  const sync = new WatchSync({ source: global, cache, region: 'eastus', sleep: sleeper.sleep, random: () => 0.5, onEvent: (e) => events.push(e) });
  return { clock, global, cache, sync, sleeper, events };
}

const enabled = (cache: DirectoryCache, clientId: string): boolean | undefined => cache.read('t1', clientId)?.entry.identity?.enabled;

describe('WatchSync', () => {

  it('prewarms from a snapshot, then applies each change in order', async () => {
    const { global, cache, sync } = rig();
    void sync.start();
    await settle();
    assert.equal(cache.loaded, true);
    assert.deepEqual(global.calls.watch, [4]);
    const seen: boolean[] = [];
    global.putIdentity(makeIdentity('t1', 'a', { enabled: false }));
    seen.push(enabled(cache, 'a')!);
    global.putIdentity(makeIdentity('t1', 'a', { enabled: true }));
    seen.push(enabled(cache, 'a')!);
    global.putIdentity(makeIdentity('t1', 'a', { enabled: false }));
    seen.push(enabled(cache, 'a')!);
    assert.deepEqual(seen, [false, true, false]);
    assert.equal(cache.revision, global.revision);
    assert.equal(sync.status().lag, 0);
    await sync.stop();
  });

  it('resumes from the last applied revision after a disconnect and applies what changed meanwhile', async () => {
    const { global, cache, sync, sleeper, events } = rig();
    void sync.start();
    await settle();
    global.putIdentity(makeIdentity('t1', 'a', { enabled: false }));
    global.heartbeat();
    const applied = cache.revision;
    global.reachable = false;
    global.disconnect();
    await sleeper.sleeping();
    global.putIdentity(makeIdentity('t1', 'b', { enabled: false }));
    global.removeIdentity('t1', 'c');
    assert.equal(enabled(cache, 'b'), true);
    global.reachable = true;
    sleeper.wake();
    await settle();
    assert.equal(global.calls.watch.at(-1), applied);
    assert.equal(enabled(cache, 'b'), false);
    assert.equal(cache.read('t1', 'c')?.entry.identity, undefined);
    assert.equal(global.calls.getSnapshot, 1);
    assert.ok(events.some((e) => e.type === 'watch-ended' && e.error?.code === 'UNAVAILABLE'));
    await sync.stop();
  });

  it('backs off with growing jittered delays while global stays down', async () => {
    const { global, sync, sleeper } = rig();
    void sync.start();
    await settle();
    global.reachable = false;
    global.disconnect();
    for (let i = 0; i < 5; i += 1) {
      await sleeper.sleeping();
      sleeper.wake();
      await settle();
    }
    await sleeper.sleeping();
    assert.deepEqual(sleeper.delays.slice(0, 6), [100, 200, 400, 800, 1600, 3200]);
    await sync.stop();
  });

  it('reloads a snapshot when global compacted its log past the resume revision', async () => {
    const { global, cache, sync, sleeper, events } = rig();
    void sync.start();
    await settle();
    global.reachable = false;
    global.disconnect();
    await sleeper.sleeping();
    global.putIdentity(makeIdentity('t1', 'a', { enabled: false }));
    global.compact();
    global.reachable = true;
    sleeper.wake();
    await settle();
    assert.ok(events.some((e) => e.type === 'log-compacted'));
    await sleeper.sleeping();
    sleeper.wake();
    await settle();
    assert.equal(global.calls.getSnapshot, 2);
    assert.equal(enabled(cache, 'a'), false);
    assert.equal(cache.revision, global.revision);
    assert.equal(global.calls.watch.at(-1), global.revision);
    assert.ok(events.some((e) => e.type === 'snapshot-loaded' && e.reason === 'compacted'));
    await sync.stop();
  });

  it('keeps retrying the first snapshot while global is down at start', async () => {
    const { global, cache, sync, sleeper, events } = rig();
    global.reachable = false;
    void sync.start();
    await sleeper.sleeping();
    sleeper.wake();
    await sleeper.sleeping();
    assert.equal(cache.loaded, false);
    assert.equal(events.filter((e) => e.type === 'snapshot-failed').length, 2);
    global.reachable = true;
    sleeper.wake();
    await settle();
    assert.equal(cache.loaded, true);
    await sync.stop();
  });

  it('resumes from the last complete revision when several changes share one', async () => {
    const { global, cache, sync } = rig();
    void sync.start();
    await settle();
    const start = cache.revision;
    global.putIdentity(makeIdentity('t1', 'a', { enabled: false }));
    assert.equal(sync.status().resumeFrom, start);
    global.heartbeat();
    assert.equal(sync.status().resumeFrom, start + 1);
    await sync.stop();
  });

  it('tracks lag against the head revision global reports', async () => {
    const { global, cache, sync } = rig();
    void sync.start();
    await settle();
    cache.applyChange({ revision: 0, headRevision: global.revision + 3 });
    assert.equal(sync.status().lag, 3);
    await sync.stop();
  });

  it('never skips a change across any pattern of disconnects and compactions', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ client: fc.constantFrom('a', 'b', 'c'), enabled: fc.boolean(), cut: fc.constantFrom('none', 'none', 'drop', 'compact') }), { maxLength: 25 }),
        async (steps) => {
          const { global, cache, sync, sleeper } = rig();
          void sync.start();
          await settle();
          for (const step of steps) {
            if (step.cut !== 'none') {
              global.reachable = false;
              global.disconnect(status.UNAVAILABLE);
              await sleeper.sleeping();
            }
            global.putIdentity(makeIdentity('t1', step.client, { enabled: step.enabled }));
            if (step.cut === 'compact') global.compact();
            if (step.cut !== 'none') {
              global.reachable = true;
              for (let i = 0; i < 3 && global.liveWatches === 0; i += 1) {
                sleeper.wake();
                await settle();
              }
            }
          }
          for (const id of ['a', 'b', 'c']) assert.equal(enabled(cache, id), global.identities.get(`t1/${id}`)!.enabled);
          assert.equal(cache.revision, global.revision);
          await sync.stop();
        },
      ),
      { numRuns: 60 },
    );
  });
});
