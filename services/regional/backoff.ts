/** How long to wait before retrying after a failure. */
export interface BackoffPolicy {
  /** First delay ceiling, in ms. Default 200. */
  baseMs?: number;
  /** Largest delay ceiling, in ms. Default 10000. */
  capMs?: number;
}

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(cap, base * 2^attempt)), so a
 * fleet of regions reconnecting after an outage of global does not arrive at once.
 *
 * @param attempt 0 for the first retry.
 * @param random a source of numbers in [0, 1), injected so tests are deterministic.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy = {}, random: () => number = Math.random): number {
  const base = policy.baseMs ?? 200;
  const cap = policy.capMs ?? 10_000;
  const ceiling = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** Waits `ms`, or until `signal` aborts (then resolves early: callers check the signal). */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** A {@link Sleep} on real timers that never keeps the process alive on its own. */
export const realSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted === true) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
