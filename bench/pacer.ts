import path from 'node:path';
import { parentPort, Worker, workerData } from 'node:worker_threads';

/**
 * Wakes an open loop at each call's due time, to a fraction of a millisecond.
 *
 * A libuv timer counts whole milliseconds, so an open loop driven by `setTimeout` sends each call
 * up to a millisecond after its due time, and that delay — the sender's, not the service's — is
 * part of every latency it records. The pacer is a small thread of its own that sleeps in
 * `Atomics.wait` (which takes fractional milliseconds) until the next due time and then posts a
 * message, which wakes the sending thread's event loop at once.
 *
 * Both threads read the same monotonic clock (`process.hrtime`), so the schedule needs no
 * conversion between the threads' own `performance.now()` origins.
 */

/** What the pacer thread is given. */
interface PacerJob {
  /** The first due time, `process.hrtime.bigint()` nanoseconds as a string. */
  firstNs: string;
  intervalNs: number;
  /** No wake-up at or past this time (ns as a string). */
  endNs: string;
  /** Int32 at index 0: set to 1 (and notified) to stop early. */
  stop: SharedArrayBuffer;
}

/** Wakes past the due time by this much, so the woken loop always finds the call due. */
const AFTER_DUE_NS = 20_000n;

/** The pacer while it runs. */
export interface Pacer {
  stop(): void;
}

/**
 * Starts a pacer thread that calls `onTick` at every due time from `firstDueMs` (in this thread's
 * `performance.now()` clock) every `intervalMs` until `endMs`. A tick that finds the loop busy is
 * not repeated: the loop sends every call due when it runs. `onFailed` is called if the thread
 * ends before `stop`.
 */
export function startPacer(firstDueMs: number, intervalMs: number, endMs: number, onTick: () => void, onFailed: () => void): Pacer {
  const hrNow = process.hrtime.bigint();
  const perfNow = performance.now();
  const toNs = (ms: number): bigint => hrNow + BigInt(Math.round((ms - perfNow) * 1e6));
  const stop = new SharedArrayBuffer(4);
  const job: PacerJob = { firstNs: String(toNs(firstDueMs)), intervalNs: Math.round(intervalMs * 1e6), endNs: String(toNs(endMs)), stop };
  const worker = new Worker(path.join(__dirname, 'pacer.js'), { workerData: job, resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 } });
  let stopped = false;
  worker.on('message', onTick);
  worker.on('error', () => undefined);
  worker.on('exit', () => {
    if (!stopped) onFailed();
  });
  worker.unref();
  return {
    stop() {
      stopped = true;
      const flag = new Int32Array(stop);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
    },
  };
}

/** The pacer thread: sleeps until each due time and posts a tick. */
function pace(job: PacerJob, post: () => void): void {
  const flag = new Int32Array(job.stop);
  const interval = BigInt(job.intervalNs);
  const end = BigInt(job.endNs);
  let next = BigInt(job.firstNs) + AFTER_DUE_NS;
  while (next < end + AFTER_DUE_NS && Atomics.load(flag, 0) === 0) {
    const waitNs = next - process.hrtime.bigint();
    if (waitNs > 0n) {
      Atomics.wait(flag, 0, 0, Number(waitNs) / 1e6);
      continue;
    }
    post();
    const now = process.hrtime.bigint();
    while (next <= now) next += interval;
  }
}

if (parentPort !== null && (workerData as Partial<PacerJob> | undefined)?.intervalNs !== undefined) {
  const port = parentPort;
  pace(workerData as PacerJob, () => port.postMessage(0));
}
