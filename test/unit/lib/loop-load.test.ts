import assert from 'node:assert/strict';
import { LoopLoad } from '../../../lib/runtime/loop-load.js';

describe('LoopLoad (is the event loop busy?)', () => {
  it('turns busy above the upper threshold and back only below the lower one', () => {
    let share = 0;
    const load = new LoopLoad({ busyAbove: 0.5, idleBelow: 0.3, utilisation: () => share });
    const seen: boolean[] = [];
    for (const s of [0.1, 0.6, 0.4, 0.35, 0.2, 0.45, 0.55]) {
      share = s;
      load.sample();
      seen.push(load.busy);
    }
    load.stop();
    assert.deepEqual(seen, [false, true, true, true, false, false, true]);
  });

  it('counts a loop kept working as busy and a loop left waiting as having room, from Node\'s own utilisation', async () => {
    const load = new LoopLoad({ sampleMs: 60_000 });
    try {
      assert.equal(load.busy, false, 'a new monitor starts with room');
      const until = performance.now() + 80;
      while (performance.now() < until) {
        // The loop works without a pause.
      }
      load.sample();
      assert.equal(load.busy, true, '80 ms of work without a pause is a busy loop');
      await new Promise((resolve) => setTimeout(resolve, 200));
      load.sample();
      assert.equal(load.busy, false, '200 ms spent waiting is a loop with room');
    } finally {
      load.stop();
    }
  });

  it('refuses thresholds that leave no room or overlap', () => {
    assert.throws(() => new LoopLoad({ busyAbove: 0.3, idleBelow: 0.5 }), /idleBelow <= busyAbove/);
    assert.throws(() => new LoopLoad({ busyAbove: 1 }), /busyAbove < 1/);
  });
});
