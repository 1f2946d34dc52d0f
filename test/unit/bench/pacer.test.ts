import assert from 'node:assert/strict';
import { openLoop } from '../../../bench/load-generator.js';
import { startPacer } from '../../../bench/pacer.js';

describe('bench open-loop pacer', () => {
  it('sends every due call of the schedule, each no earlier than its due time', async () => {
    const sentAt: number[] = [];
    // The schedule starts inside openLoop, no earlier than this: call i is due at or after t0 + i * 2.5 ms.
    const t0 = performance.now();
    const result = await openLoop(
      () => {
        sentAt.push(performance.now());
        return Promise.resolve(true);
      },
      { rate: 400, durationMs: 500, warmupMs: 100, pacer: 'thread' },
    );
    // 400/s over a 100 ms warm-up and a 500 ms window: 40 + 200 calls, 200 of them measured.
    assert.equal(sentAt.length, 240);
    assert.equal(result.sent, 200);
    assert.equal(result.ok, 200);
    assert.equal(result.failed, 0);
    const early = sentAt.map((at, i) => ({ i, by: t0 + i * 2.5 - at })).filter((e) => e.by > 0);
    assert.deepEqual(early.slice(0, 3), [], 'calls left before their due time');
    const late = result.sendLateness!;
    console.log(`      pacer: calls left after their due time by p50 ${late.p50} p99 ${late.p99} max ${late.max} ms`);
  });

  it('ticks until stopped, then its thread ends without ticking again', async () => {
    let ticks = 0;
    let failed = false;
    const start = performance.now();
    const pacer = startPacer(start, 2, start + 60_000, () => (ticks += 1), () => (failed = true));
    while (ticks < 10) await new Promise((r) => setTimeout(r, 5));
    pacer.stop();
    await new Promise((r) => setTimeout(r, 50));
    const atStop = ticks;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(ticks, atStop, 'ticked after stop');
    assert.equal(failed, false, 'a stopped pacer is not a failed one');
  });

  it('hands the schedule back when its thread ends early, so the loop still finishes on time', async () => {
    let handedBack = false;
    const start = performance.now();
    // A schedule that ends at once: the thread finishes before anyone stops it.
    startPacer(start, 1, start, () => undefined, () => (handedBack = true));
    const deadline = Date.now() + 5_000;
    while (!handedBack && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(handedBack, true);
  });
});
