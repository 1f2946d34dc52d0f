/** Ejects a hung domain: attempt timeouts in a row open its breaker at once. */
import { status } from '@grpc/grpc-js';
import type { Clock } from '../../lib/clock/index.js';
import type { DomainBreaker } from './breaker-factory.js';
import type { BackendError } from './token-backend.js';

/** Options of {@link detectOutliers}. */
export interface OutlierOptions {
  /**
   * Attempt timeouts (DEADLINE_EXCEEDED) on a domain in a row, with no answer from it in between,
   * that eject it: its breaker opens at once, whatever its rolling window holds. 0 turns the
   * detection off. Default 5.
   */
  consecutiveTimeouts: number;
}

export const DEFAULT_OUTLIER_OPTIONS: Readonly<OutlierOptions> = Object.freeze({ consecutiveTimeouts: 5 });

/** Problems with outlier options, empty when they are usable. */
export function checkOutlierOptions(o: OutlierOptions): string[] {
  return Number.isInteger(o.consecutiveTimeouts) && o.consecutiveTimeouts >= 0 ? [] : [`consecutiveTimeouts must be an integer >= 0, got ${o.consecutiveTimeouts}`];
}

/** One ejection: the domain, how many timeouts in a row ejected it, and since when they ran. */
export interface Ejection {
  domain: string;
  timeouts: number;
  /** Clock time of the first timeout of the run, and of the ejection, ms. */
  firstTimeoutAtMs: number;
  atMs: number;
}

const isTimeout = (error: unknown): boolean => (error as Partial<BackendError> | undefined)?.code === status.DEADLINE_EXCEEDED;
const isCancelled = (result: unknown): boolean => (result as Partial<BackendError> | undefined)?.callerCancelled === true;

/**
 * Hang detection that does not depend on traffic history, as Envoy's consecutive gateway failure
 * outlier detection works: a breaker's fault percentage over a 10 s window hides a hang behind the
 * thousands of answers a busy domain gave just before it, so this counts the domain's attempt
 * timeouts in a row and opens its breaker at the `consecutiveTimeouts`-th. Any answer (a token or
 * a caller error) ends the run; other faults (UNAVAILABLE, RESOURCE_EXHAUSTED) neither count nor
 * end it, and a call the caller cancelled says nothing either way.
 *
 * Recovery is the breaker's own: after its reset timeout it lets one probe through (half-open),
 * which closes it when the domain answers and reopens it when the domain still hangs.
 *
 * Reads the breaker's events only (`failure`, `success`), so it works the same for every transport.
 * Returns a function that detaches it.
 */
export function detectOutliers(name: string, breaker: DomainBreaker, clock: Clock, options: OutlierOptions, onEject?: (e: Ejection) => void): () => void {
  const problems = checkOutlierOptions(options);
  if (problems.length > 0) throw new RangeError(`outlier options for ${name}: ${problems.join('; ')}`);
  if (options.consecutiveTimeouts === 0) return () => undefined;
  let run = 0;
  let firstAt = 0;
  const onFailure = (error: unknown): void => {
    if (!isTimeout(error)) return;
    if (run === 0) firstAt = clock.now();
    run += 1;
    if (run < options.consecutiveTimeouts) return;
    const timeouts = run;
    run = 0;
    // Already open (or probing): the breaker is handling it.
    if (breaker.opened || breaker.halfOpen) return;
    breaker.open();
    onEject?.({ domain: name, timeouts, firstTimeoutAtMs: firstAt, atMs: clock.now() });
  };
  const onSuccess = (result: unknown): void => {
    if (!isCancelled(result)) run = 0;
  };
  breaker.on('failure', onFailure);
  breaker.on('success', onSuccess);
  return () => {
    breaker.off('failure', onFailure);
    breaker.off('success', onSuccess);
  };
}
