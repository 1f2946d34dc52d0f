import assert from 'node:assert/strict';
import { HedgeTimer, type HedgeTarget } from '../../../gateway/routing/hedge-timer.js';

/** A hedge target that records when it was told its delay passed. */
class Target implements HedgeTarget {
  due = 0;
  constructor(private readonly order?: Target[]) {}
  hedgeDue(): void {
    this.due += 1;
    this.order?.push(this);
  }
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('HedgeTimer (the hedging delays of every call on one timer)', () => {
  let hedges: HedgeTimer | undefined;
  afterEach(() => hedges?.close());

  it('tells each waiting call once, in the order the calls began, only after its own delay', async () => {
    let now = 0;
    hedges = new HedgeTimer(5, () => now);
    const order: Target[] = [];
    const first = new Target(order);
    const second = new Target(order);
    hedges.schedule(first);
    now = 3;
    hedges.schedule(second);
    // The timer fires at 5 ms on the real clock; on the given clock only the first is due then.
    now = 5;
    await until(() => first.due === 1, 'the first delay');
    assert.equal(second.due, 0, 'the second call began 3 ms later and is not due yet');
    now = 8;
    await until(() => second.due === 1, 'the second delay');
    assert.deepEqual(order, [first, second]);
    assert.equal(hedges.queued, 0);
    // Nothing fires twice.
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(first.due + second.due, 2);
  });

  it('never tells a call that cancelled, and lets go of it at once', async () => {
    let now = 0;
    hedges = new HedgeTimer(2, () => now);
    const cancelled = new Target();
    const kept = new Target();
    const ticket = hedges.schedule(cancelled);
    hedges.schedule(kept);
    hedges.cancel(ticket, cancelled);
    assert.equal((hedges as unknown as { targets: (HedgeTarget | undefined)[] }).targets.includes(cancelled), false, 'the cancelled call is no longer referenced');
    now = 2;
    await until(() => kept.due === 1, 'the kept delay');
    assert.equal(cancelled.due, 0);
  });

  it('does not cancel a newer entry with an old ticket of the same call', async () => {
    let now = 0;
    hedges = new HedgeTimer(2, () => now);
    const call = new Target();
    const old = hedges.schedule(call);
    hedges.cancel(old, call);
    hedges.schedule(call);
    hedges.cancel(old, call);
    now = 2;
    await until(() => call.due === 1, 'the newer delay');
  });

  it('keeps every entry, in order, when more calls wait than its ring held', async () => {
    let now = 0;
    hedges = new HedgeTimer(1, () => now);
    const order: Target[] = [];
    const targets = Array.from({ length: 1000 }, () => new Target(order));
    const tickets = targets.map((t) => hedges!.schedule(t));
    // Every third call stops waiting.
    for (let i = 0; i < targets.length; i += 3) hedges.cancel(tickets[i]!, targets[i]!);
    now = 1;
    const expected = targets.filter((_, i) => i % 3 !== 0);
    await until(() => order.length === expected.length, 'every kept delay');
    assert.deepEqual(order, expected);
    assert.equal(targets.filter((t) => t.due > 1).length, 0);
  });

  it('wakes once per delay, not once per call, while every call is answered in time', async () => {
    let reads = 0;
    hedges = new HedgeTimer(50, () => {
      reads += 1;
      return performance.now();
    });
    const target = new Target();
    let scheduled = 0;
    const until = performance.now() + 120;
    while (performance.now() < until) {
      hedges.cancel(hedges.schedule(target), target);
      scheduled += 1;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await new Promise((resolve) => setTimeout(resolve, 80));
    const wakeUps = reads - scheduled;
    console.log(`      ${scheduled} calls answered in time, ${wakeUps} wake-ups of the timer`);
    assert.ok(scheduled > 20, `only ${scheduled} calls scheduled`);
    assert.ok(wakeUps <= 5, `the timer woke ${wakeUps} times for ${scheduled} cancelled delays of 50 ms over 200 ms`);
    assert.equal(target.due, 0);
    assert.equal(hedges.queued, 0, 'answered calls are off the queue');
  });

  it('refuses a delay that is not positive', () => {
    assert.throws(() => new HedgeTimer(0), /must be > 0 ms/);
  });
});
