/** Limits of an {@link AdmissionControl}. */
export interface AdmissionOptions {
  /** Calls served at once (default 64). */
  maxConcurrent?: number;
  /** Calls waiting for a slot; one more is refused at once (default 256). */
  maxQueue?: number;
  /** Longest a call waits in the queue before it is refused, in ms (default 1000). */
  maxQueueWaitMs?: number;
}

/** Releases the slot a call holds; calling it more than once is harmless. */
export type Release = () => void;

interface Waiter {
  admit: (release: Release) => void;
  refuse: () => void;
  timer: NodeJS.Timeout;
}

/**
 * Bounded concurrency with a bounded FIFO queue. Beyond both, or after waiting too long, a call
 * is refused without being served, so overload costs little memory and is answered quickly.
 */
export class AdmissionControl {
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  readonly maxQueueWaitMs: number;
  private active = 0;
  private readonly queue: Waiter[] = [];
  private refusedCount = 0;

  constructor(options: AdmissionOptions = {}) {
    this.maxConcurrent = options.maxConcurrent ?? 64;
    this.maxQueue = options.maxQueue ?? 256;
    this.maxQueueWaitMs = options.maxQueueWaitMs ?? 1000;
    if (!(this.maxConcurrent >= 1) || !(this.maxQueue >= 0) || !(this.maxQueueWaitMs >= 0)) throw new RangeError('invalid admission limits');
  }

  /**
   * Resolves with a release function once the call may run, or with undefined when it is
   * refused (queue full, waited past `maxQueueWaitMs` or past `deadline`, an absolute ms time).
   */
  enter(deadline?: number): Promise<Release | undefined> {
    if (this.active < this.maxConcurrent) {
      this.active += 1;
      return Promise.resolve(this.releaser());
    }
    if (this.queue.length >= this.maxQueue) {
      this.refusedCount += 1;
      return Promise.resolve(undefined);
    }
    const waitMs = Math.max(0, Math.min(this.maxQueueWaitMs, deadline === undefined ? Infinity : deadline - Date.now()));
    return new Promise((resolve) => {
      const waiter: Waiter = {
        admit: (release) => resolve(release),
        refuse: () => {
          this.refusedCount += 1;
          resolve(undefined);
        },
        timer: setTimeout(() => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          waiter.refuse();
        }, waitMs),
      };
      this.queue.push(waiter);
    });
  }

  /** Calls running, calls waiting and calls refused so far. */
  stats(): { active: number; queued: number; refused: number } {
    return { active: this.active, queued: this.queue.length, refused: this.refusedCount };
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next === undefined) {
        this.active -= 1;
        return;
      }
      // The slot passes straight to the next waiter.
      clearTimeout(next.timer);
      next.admit(this.releaser());
    };
  }
}
