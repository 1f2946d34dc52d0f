/** The circuit breaker of a fault domain (opossum), and which failures count against it. */
import CircuitBreaker from 'opossum';
import { CALLER_ERROR_CODES, OAUTH_ERROR_KEY } from '../../lib/grpc/index.js';
import type { BackendCallOptions, BackendError, BackendReply, TokenBackend } from './token-backend.js';
import type { TokenMethod } from '../pass-through.js';

/**
 * Breaker options of one fault domain. Every option is set explicitly when the breaker is built
 * and checked first, because opossum reads some options with truthiness tests: `timeout: 0`
 * disables its timeout instead of meaning 0 ms, a falsy `errorFilter` or health-check interval is
 * replaced by the default, `volumeThreshold: 0` opens on the very first failure, and
 * `capacity: 0` refuses every call.
 */
export interface BreakerOptions {
  /** Fault percentage in the rolling window above which the breaker opens. 1..100. Default 50. */
  errorThresholdPercentage: number;
  /**
   * Calls in the rolling window before the breaker may open. At least 1 (opossum's 0 opens on the
   * first failure: one dropped connection would cut a domain off). Default 5.
   */
  volumeThreshold: number;
  /** Length of the rolling window, ms. Default 10000. */
  rollingCountTimeout: number;
  /** Buckets in the rolling window; must divide it. Default 10. */
  rollingCountBuckets: number;
  /**
   * Time the breaker stays open before it lets one probe through (half-open), ms. At least 1.
   * One successful probe closes it (opossum has no "N successes to close"): the routing score
   * and a fresh fault window make up for that (see choose-domain.ts, stats.ts). Default 2000.
   */
  resetTimeout: number;
  /** Attempts in flight to the domain before further ones are refused. At least 1. Default 10000. */
  capacity: number;
}

export const DEFAULT_BREAKER_OPTIONS: Readonly<BreakerOptions> = Object.freeze({
  errorThresholdPercentage: 50,
  volumeThreshold: 5,
  rollingCountTimeout: 10_000,
  rollingCountBuckets: 10,
  resetTimeout: 2_000,
  capacity: 10_000,
});

/** The breaker of one fault domain; fired with the arguments of {@link TokenBackend.call}. */
export type DomainBreaker = CircuitBreaker<[TokenMethod, Buffer, BackendCallOptions], BackendReply>;

/** Problems with breaker options, empty when they are usable. */
export function checkBreakerOptions(o: BreakerOptions): string[] {
  const problems: string[] = [];
  const int = (v: number): boolean => Number.isInteger(v);
  if (!(o.errorThresholdPercentage >= 1 && o.errorThresholdPercentage <= 100)) problems.push(`errorThresholdPercentage must be 1..100, got ${o.errorThresholdPercentage}`);
  if (!int(o.volumeThreshold) || o.volumeThreshold < 1) problems.push(`volumeThreshold must be an integer >= 1, got ${o.volumeThreshold}`);
  if (!int(o.rollingCountBuckets) || o.rollingCountBuckets < 1) problems.push(`rollingCountBuckets must be an integer >= 1, got ${o.rollingCountBuckets}`);
  if (!int(o.rollingCountTimeout) || o.rollingCountTimeout < 1 || o.rollingCountTimeout % Math.max(1, o.rollingCountBuckets) !== 0) {
    problems.push(`rollingCountTimeout must be a positive multiple of rollingCountBuckets, got ${o.rollingCountTimeout}`);
  }
  if (!int(o.resetTimeout) || o.resetTimeout < 1) problems.push(`resetTimeout must be an integer >= 1 ms, got ${o.resetTimeout}`);
  if (!int(o.capacity) || o.capacity < 1) problems.push(`capacity must be an integer >= 1, got ${o.capacity}`);
  return problems;
}

/**
 * Caller errors (INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, ...) are answers, and an
 * attempt the caller cancelled says nothing about the domain. opossum then emits `success` (it
 * counts toward closing a half-open breaker) while `fire()` still rejects with the error.
 *
 * A caller error is an answer only when the domain's token service gave it, which it always marks
 * with the `oauth-error` trailer. Without one the refusal came from the hop between gateway and
 * domain (a mesh credential the domain does not accept, a proxy), which is the mesh's fault, not
 * the workload's: it counts as a fault and the call moves on, instead of telling the workload its
 * own credential is bad.
 */
export function isNotAFault(error: unknown): boolean {
  const e = error as Partial<BackendError> | undefined;
  if (e === undefined || e === null) return false;
  if (e.callerCancelled === true) return true;
  if (typeof e.code !== 'number' || !CALLER_ERROR_CODES.has(e.code)) return false;
  return e.metadata === undefined || e.metadata.get(OAUTH_ERROR_KEY).length > 0;
}

/** The same failure another domain gave for this request (query of death): the request's, not the domain's. */
function isTheRequestsFailure(error: unknown, callOptions: BackendCallOptions | undefined): boolean {
  const same = callOptions?.sameFailureIsTheRequests;
  return same !== undefined && (error as Partial<BackendError> | undefined)?.code === same;
}

/**
 * Builds the one breaker of a fault domain. Call once per domain at start and keep it: a breaker
 * made per request starts closed with empty stats every time and never opens.
 *
 * Not used, on purpose: opossum's `timeout` (it would not cancel the gRPC call; every attempt
 * carries its own gRPC deadline instead, so a timeout is a DEADLINE_EXCEEDED fault), its
 * `abortController` (one per breaker: a single timeout would abort every call in flight), and
 * `healthCheck` (it can only open a breaker; health comes from grpc.health.v1 Watch instead).
 */
export function createBreaker(backend: TokenBackend, options: Partial<BreakerOptions> = {}): DomainBreaker {
  const o: BreakerOptions = { ...DEFAULT_BREAKER_OPTIONS, ...options };
  const problems = checkBreakerOptions(o);
  if (problems.length > 0) throw new RangeError(`breaker options for ${backend.name}: ${problems.join('; ')}`);
  const action = (method: TokenMethod, bytes: Buffer, callOptions: BackendCallOptions): Promise<BackendReply> =>
    backend.call(method, bytes, callOptions);
  const breaker = new CircuitBreaker(action, {
    name: backend.name,
    timeout: false,
    errorThresholdPercentage: o.errorThresholdPercentage,
    volumeThreshold: o.volumeThreshold,
    rollingCountTimeout: o.rollingCountTimeout,
    rollingCountBuckets: o.rollingCountBuckets,
    resetTimeout: o.resetTimeout,
    capacity: o.capacity,
    // opossum passes the fired arguments after the error, though its types do not say so.
    errorFilter: ((error: unknown, _method: TokenMethod, _bytes: Buffer, callOptions?: BackendCallOptions) =>
      isNotAFault(error) || isTheRequestsFailure(error, callOptions)) as (err: unknown) => boolean,
    allowWarmUp: false,
    enableSnapshots: false,
    rollingPercentilesEnabled: false,
  });
  breaker.on('close', () => clearWindow(breaker));
  return breaker;
}

/**
 * opossum keeps its rolling window when a breaker closes, so after an outage the window is still
 * full of failures and the first new failure reopens the breaker at once. A breaker that closed
 * (its probe succeeded) starts from a clean window instead. `status.window` is a shallow copy of
 * the buckets, so zeroing each bucket's counters clears the window in place.
 */
function clearWindow(breaker: DomainBreaker): void {
  for (const bucket of breaker.status.window as unknown as Record<string, unknown>[]) {
    for (const [key, value] of Object.entries(bucket)) {
      if (typeof value === 'number') bucket[key] = 0;
      else if (Array.isArray(value)) value.length = 0;
    }
  }
}

/** Breaker state as a word. */
export function breakerState(breaker: DomainBreaker): 'closed' | 'open' | 'half-open' {
  if (breaker.opened) return 'open';
  if (breaker.halfOpen) return 'half-open';
  return 'closed';
}

/** Whether an error is opossum's own (open breaker, semaphore full, shut down). */
export const isBreakerError = (error: unknown): boolean => error instanceof Error && CircuitBreaker.isOurError(error);
