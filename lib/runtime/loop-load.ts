import { performance } from 'node:perf_hooks';

/** How busy the event loop has been lately: the share of time it spent working rather than waiting. */
export interface LoopLoadOptions {
  /** How often the share is taken, ms. Default 100. */
  sampleMs?: number;
  /** The loop counts as busy once its share over a sample is above this. Default 0.5. */
  busyAbove?: number;
  /** ...and as having room again once it is below this. Default 0.3. */
  idleBelow?: number;
  /** The loop's utilisation since the last call (0..1); Node's event-loop utilisation unless given (tests). */
  utilisation?: () => number;
}

/**
 * Whether this process's event loop is busy, from Node's event-loop utilisation sampled on an
 * unref'd timer, with a gap between the two thresholds so a load near one of them does not flip
 * the answer on every sample. Idle until first asked: the timer starts with the first question.
 */
export class LoopLoad {
  private readonly sampleMs: number;
  private readonly busyAbove: number;
  private readonly idleBelow: number;
  private readonly utilisation: () => number;
  private timer: NodeJS.Timeout | undefined;
  private isBusy = false;

  constructor(options: LoopLoadOptions = {}) {
    this.sampleMs = options.sampleMs ?? 100;
    this.busyAbove = options.busyAbove ?? 0.5;
    this.idleBelow = options.idleBelow ?? 0.3;
    if (!(this.idleBelow > 0 && this.idleBelow <= this.busyAbove && this.busyAbove < 1)) {
      throw new RangeError(`loop load thresholds must satisfy 0 < idleBelow <= busyAbove < 1, got ${this.idleBelow} and ${this.busyAbove}`);
    }
    this.utilisation = options.utilisation ?? nodeUtilisation();
  }

  /** True while the loop's recent share of work is high (see the thresholds). */
  get busy(): boolean {
    if (this.timer === undefined) this.start();
    return this.isBusy;
  }

  /** Takes one sample now (the timer does this every `sampleMs`). */
  sample(): void {
    const share = this.utilisation();
    if (share > this.busyAbove) this.isBusy = true;
    else if (share < this.idleBelow) this.isBusy = false;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private start(): void {
    this.utilisation();
    this.timer = setInterval(() => this.sample(), this.sampleMs);
    this.timer.unref();
  }
}

/** Node's event-loop utilisation of the main thread since the previous call. */
function nodeUtilisation(): () => number {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const share = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return share;
  };
}

/** This process's event loop, shared by everything that places work by its load (signing, verifying). */
export const processLoopLoad = new LoopLoad();
