/** The hedging delays of every call of a failover loop, kept on one timer. */

/** A call waiting for its hedging delay to pass. */
export interface HedgeTarget {
  /** The delay passed while the call still waited: ask the next domain. */
  hedgeDue(): void;
}

const MIN_CAPACITY = 64;

/**
 * Hedging delays all have the same length, so they end in the order they began: a queue and one
 * timer for its head serve every call, instead of a timer, a promise and a race per call. A call
 * that stops waiting cancels its entry, which lets go of the call at once (an entry does not keep
 * a finished call alive until its delay would have ended).
 *
 * The queue is a ring addressed by ever-growing ticket numbers (`ticket & mask`), so a ticket
 * still names its entry after the ring grows.
 */
export class HedgeTimer {
  private capacity = MIN_CAPACITY;
  private dueAt = new Float64Array(MIN_CAPACITY);
  private targets: (HedgeTarget | undefined)[] = new Array<HedgeTarget | undefined>(MIN_CAPACITY).fill(undefined);
  /** Ticket of the oldest entry still queued, and of the next one to be given out. */
  private head = 0;
  private tail = 0;
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param delayMs the hedging delay, ms (> 0).
   * @param now a monotonic clock in ms; `performance.now` unless given (tests).
   */
  constructor(
    readonly delayMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(delayMs > 0)) throw new RangeError(`hedging delay must be > 0 ms, got ${delayMs}`);
  }

  /** Entries queued: from the oldest call still waiting to the newest, cancelled ones between them included. */
  get queued(): number {
    return this.tail - this.head;
  }

  /** Calls `target.hedgeDue()` once `delayMs` from now, unless cancelled first; returns the ticket to cancel with. */
  schedule(target: HedgeTarget): number {
    if (this.tail - this.head === this.capacity) this.grow();
    const ticket = this.tail;
    this.tail += 1;
    const i = ticket & (this.capacity - 1);
    this.dueAt[i] = this.now() + this.delayMs;
    this.targets[i] = target;
    if (this.timer === undefined) this.arm(this.delayMs);
    return ticket;
  }

  /** Forgets the entry of `ticket` if `target` still holds it. */
  cancel(ticket: number, target: HedgeTarget): void {
    if (ticket < this.head) return;
    const i = ticket & (this.capacity - 1);
    if (this.targets[i] !== target) return;
    this.targets[i] = undefined;
    this.dropCancelledHead();
  }

  /** Stops the timer; queued entries never fire. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.targets.fill(undefined);
    this.head = this.tail;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.fire(), Math.max(1, Math.ceil(ms)));
    // Every waiting call has its attempts' own timers and sockets: this one keeps nothing alive.
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    const now = this.now();
    while (this.head < this.tail) {
      const i = this.head & (this.capacity - 1);
      if (this.dueAt[i]! > now) break;
      const target = this.targets[i];
      this.targets[i] = undefined;
      this.head += 1;
      target?.hedgeDue();
    }
    this.dropCancelledHead();
    if (this.head < this.tail && this.timer === undefined) this.arm(this.dueAt[this.head & (this.capacity - 1)]! - now);
  }

  /**
   * Takes cancelled entries off the front of the queue. Calls mostly end in the order they began,
   * so this keeps the queue to the calls still waiting, and the timer wakes the process once per
   * delay for the oldest of them rather than at every cancelled entry's due time.
   */
  private dropCancelledHead(): void {
    while (this.head < this.tail && this.targets[this.head & (this.capacity - 1)] === undefined) this.head += 1;
  }

  private grow(): void {
    const capacity = this.capacity * 2;
    const dueAt = new Float64Array(capacity);
    const targets = new Array<HedgeTarget | undefined>(capacity).fill(undefined);
    for (let t = this.head; t < this.tail; t += 1) {
      dueAt[t & (capacity - 1)] = this.dueAt[t & (this.capacity - 1)]!;
      targets[t & (capacity - 1)] = this.targets[t & (this.capacity - 1)];
    }
    this.capacity = capacity;
    this.dueAt = dueAt;
    this.targets = targets;
  }
}
