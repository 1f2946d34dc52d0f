import type { Sleep } from '../../../services/regional/backoff.js';

/**
 * A Sleep that waits until the test wakes it, so a retry loop advances one step at a time with
 * no timers. Records every requested delay.
 */
export class StepSleep {
  readonly delays: number[] = [];
  private waiting: Array<() => void> = [];
  private onSleep: Array<() => void> = [];

  readonly sleep: Sleep = (ms, signal) =>
    new Promise<void>((resolve) => {
      this.delays.push(ms);
      if (signal?.aborted === true) return resolve();
      const onAbort = (): void => resolve();
      this.waiting.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      for (const notify of this.onSleep.splice(0)) notify();
    });

  /** Resolves once the loop is sleeping. */
  async sleeping(): Promise<void> {
    if (this.waiting.length > 0) return;
    await new Promise<void>((resolve) => this.onSleep.push(resolve));
  }

  /** Ends the current sleep(s). */
  wake(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

/** Lets every pending promise callback run (no timers involved beyond one macrotask turn). */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
