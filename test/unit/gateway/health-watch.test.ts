import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { HealthWatch, nextBackoff, type Timers, type WatchStream } from '../../../gateway/routing/health-watch.js';

class FakeStream extends EventEmitter implements WatchStream {
  cancelled = false;
  cancel(): void {
    this.cancelled = true;
    this.emit('error', new Error('cancelled'));
  }
}

/** Timers that run only when told to. */
class StepTimers implements Timers {
  readonly queue: { fn: () => void; ms: number }[] = [];
  setTimeout(fn: () => void, ms: number): unknown {
    const t = { fn, ms };
    this.queue.push(t);
    return t;
  }
  clearTimeout(h: unknown): void {
    const i = this.queue.indexOf(h as { fn: () => void; ms: number });
    if (i >= 0) this.queue.splice(i, 1);
  }
  runNext(): number {
    const t = this.queue.shift()!;
    t.fn();
    return t.ms;
  }
}

describe('nextBackoff', () => {
  it('stays within [base, min(cap, 3 x previous)]', () => {
    assert.equal(nextBackoff(0, () => 0), 100);
    assert.equal(nextBackoff(0, () => 0.999999) <= 100, true);
    assert.equal(nextBackoff(1000, () => 1), 3000);
    assert.equal(nextBackoff(4000, () => 1), 5000);
    assert.equal(nextBackoff(1000, () => 0.5, { baseMs: 10, capMs: 100 }), 100);
  });
});

describe('HealthWatch', () => {
  it('reports what the watch stream says', () => {
    const stream = new FakeStream();
    const changes: string[] = [];
    const w = new HealthWatch({ serviceName: 's', openWatch: () => stream, onChange: (h) => changes.push(h), timers: new StepTimers() });
    w.start();
    assert.equal(w.health, 'unknown');
    stream.emit('data', { status: 'SERVING' });
    stream.emit('data', { status: 'NOT_SERVING' });
    assert.deepEqual(changes, ['serving', 'not-serving']);
    w.stop();
  });

  it('marks the domain unreachable and reconnects with growing jittered delays, reset by an answer', () => {
    const timers = new StepTimers();
    const streams: FakeStream[] = [];
    const w = new HealthWatch({
      serviceName: 's',
      openWatch: () => {
        const s = new FakeStream();
        streams.push(s);
        return s;
      },
      timers,
      random: () => 1,
      backoff: { baseMs: 100, capMs: 1000 },
    });
    w.start();
    streams[0]!.emit('error', new Error('UNAVAILABLE'));
    streams[0]!.emit('close');
    assert.equal(w.health, 'unreachable');
    assert.equal(timers.queue.length, 1, 'one reconnect per failure, however many events');
    const delays = [timers.runNext()];
    streams[1]!.emit('error', new Error('UNAVAILABLE'));
    delays.push(timers.runNext());
    streams[2]!.emit('error', new Error('UNAVAILABLE'));
    delays.push(timers.runNext());
    streams[3]!.emit('end');
    delays.push(timers.runNext());
    assert.deepEqual(delays, [100, 300, 900, 1000]);
    streams[4]!.emit('data', { status: 'SERVING' });
    assert.equal(w.health, 'serving');
    streams[4]!.emit('error', new Error('UNAVAILABLE'));
    assert.equal(timers.runNext(), 100);
    w.stop();
  });

  it('stops cleanly: cancels the stream and reconnects no more', () => {
    const timers = new StepTimers();
    const stream = new FakeStream();
    const w = new HealthWatch({ serviceName: 's', openWatch: () => stream, timers });
    w.start();
    w.stop();
    assert.equal(stream.cancelled, true);
    assert.equal(timers.queue.length, 0);
  });
});
