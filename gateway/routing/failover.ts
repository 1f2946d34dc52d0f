/** The failover loop: tries fault domains in route order until one answers or the deadline or retry budget runs out. */
import { status } from '@grpc/grpc-js';
import type { Clock } from '../../lib/clock/index.js';
import { readErrorTrailers } from '../../lib/grpc/index.js';
import { NOOP_ATTEMPT_OBSERVER, type AttemptObserver } from './attempt-observer.js';
import { breakerState, isBreakerError, isNotAFault } from './breaker-factory.js';
import { chooseDomains, type RoutePlan, type RoutingOptions } from './choose-domain.js';
import type { BackendError } from './token-backend.js';
import { FailoverCall, type AttemptOutcome, type CallHost, type CallState } from './failover-call.js';
import type { Forwarder, ForwardRequest, ForwardResult } from './forwarder.js';
import type { FaultDomain } from './fault-domain.js';
import { HedgeTimer } from './hedge-timer.js';
import type { HealthSnapshot, SnapshotSource } from './health-snapshot.js';
import type { RetryBudget } from './retry-budget.js';

/** Options of {@link Failover}. */
export interface FailoverOptions {
  /** Deadline given to a call whose caller set none, ms. Default 5000. */
  defaultDeadlineMs?: number;
  /**
   * Longest single attempt, ms, so a hung (SIGSTOPped) domain costs this much and not the whole
   * deadline. Each attempt gets min(this, time left before the caller's deadline). Default 1000.
   */
  attemptTimeoutMs?: number;
  /** No attempt starts with less than this left before the caller's deadline, ms. Default 5. */
  minAttemptMs?: number;
  /**
   * Hedging: when an attempt has not answered after this many ms and another domain is left, that
   * domain is asked too and the first answer wins, so a hung domain costs callers this long
   * rather than the whole attempt timeout. 0 (the default here) turns hedging off.
   */
  hedgeAfterMs?: number;
  routing?: RoutingOptions;
  /** Told about every attempt (spans, metrics); default none. */
  observer?: AttemptObserver;
  /** Told what each domain said when no domain could answer (the caller gets status names only). */
  onNoAnswer?: (said: readonly string[]) => void;
}

/**
 * The per-call loop: route from a health snapshot, try the best domain, and on a retryable fault
 * move on to the next one at once while the caller's deadline and the retry budget allow.
 *
 * - An answer (token, key set) is returned with the domain's trailers plus
 *   `authmesh-fault-domain` and `authmesh-attempts`.
 * - A caller error (INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, ...) is returned at
 *   once with its status, message and trailers (`oauth-error`); it is never a breaker fault.
 * - Anything else is a fault of that domain and moves on: UNAVAILABLE, DEADLINE_EXCEEDED,
 *   RESOURCE_EXHAUSTED, connection errors, an open breaker, and also codes no domain should send
 *   (UNIMPLEMENTED, INTERNAL, ...), since another domain may well answer.
 * - Query of death: when two domains fail the same request with the same status that is neither
 *   a transport failure nor overload (INTERNAL, UNKNOWN, UNIMPLEMENTED, DATA_LOSS), the request is
 *   what fails, not the domains: the call ends with INVALID_ARGUMENT, `oauth-error:
 *   invalid_request`, `authmesh-reason: request-fails-everywhere`, no further domain is tried and
 *   the second failure does not count against its breaker.
 * - When nothing answered: UNAVAILABLE, `oauth-error: temporarily_unavailable`,
 *   `authmesh-reason: no-healthy-domain`, and a message naming each domain with the status it
 *   gave (what the domains said in full goes to `onNoAnswer`, not to the caller).
 */
export class Failover implements Forwarder {
  private readonly byName: ReadonlyMap<string, FaultDomain>;
  private readonly defaultDeadlineMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly observer: AttemptObserver;
  /** What each call's loop uses of this one. */
  private readonly host: CallHost;
  /** The plan of the last snapshot: a snapshot is reused for many calls, and routing is pure. */
  private planned: { snapshot: HealthSnapshot; plan: RoutePlan } | undefined;

  constructor(
    domains: readonly FaultDomain[],
    private readonly snapshots: SnapshotSource,
    private readonly budget: RetryBudget,
    private readonly clock: Clock,
    private readonly options: FailoverOptions = {},
  ) {
    this.byName = new Map(domains.map((d) => [d.name, d]));
    this.defaultDeadlineMs = options.defaultDeadlineMs ?? 5_000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 1_000;
    this.observer = options.observer ?? NOOP_ATTEMPT_OBSERVER;
    this.host = {
      clock,
      budget,
      minAttemptMs: options.minAttemptMs ?? 5,
      hedges: (options.hedgeAfterMs ?? 0) > 0 ? new HedgeTimer(options.hedgeAfterMs!) : undefined,
      domain: (name) => this.byName.get(name)!,
      attempt: (domain, attempt, req, left, call, suspect) => this.attempt(domain, attempt, req, left, call, suspect),
      onNoAnswer: options.onNoAnswer,
    };
  }

  /**
   * Routes one call: plans from the current snapshot, sends the probes and refreshes it asks for,
   * then runs the call's loop. Not an async function: the loop's own promise is handed back as it
   * is (an async function returning it would settle two microtask turns later), and a throw while
   * planning rejects it as before.
   */
  forward(req: ForwardRequest): Promise<ForwardResult> {
    try {
      const deadline = req.deadline ?? this.clock.now() + this.defaultDeadlineMs;
      const plan = this.plan();
      this.observer.planned?.(plan.order, plan.skipped);
      for (const name of plan.probes) this.probe(this.byName.get(name)!, req);
      for (const name of plan.refreshes) this.refresh(this.byName.get(name)!, req, plan.refreshWithinMs);
      return new FailoverCall(this.host, req, deadline, plan).run();
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** Stops hedging (at shutdown, once no call is taken any more). */
  close(): void {
    this.host.hedges?.close();
  }

  private plan(): RoutePlan {
    const snapshot = this.snapshots.current();
    if (this.planned?.snapshot !== snapshot) this.planned = { snapshot, plan: chooseDomains(snapshot, this.options.routing) };
    return this.planned.plan;
  }

  /** One attempt on one domain, with its bookkeeping (stats, budget, observer); never rejects. */
  private async attempt(domain: FaultDomain, attempt: number, req: ForwardRequest, left: number, call: CallState, suspect: status | undefined): Promise<AttemptOutcome> {
    const name = domain.name;
    const started = this.clock.now();
    const scope = this.observer.begin({ domain: name, attempt, breaker: breakerState(domain.breaker), method: req.method });
    try {
      const reply = await scope.run(() =>
        domain.breaker.fire(req.method, req.bytes, {
          deadline: started + Math.min(left, this.attemptTimeoutMs),
          metadata: req.metadata,
          signal: req.signal,
          sameFailureIsTheRequests: suspect,
        }),
      );
      domain.stats.recordRequest();
      domain.stats.recordSuccess(call.answered ? undefined : this.clock.now() - started);
      scope.end({ outcome: 'answered', ms: this.clock.now() - started, trailers: reply.trailers });
      this.budget.onSuccess(name);
      return { kind: 'answer', bytes: reply.bytes, trailers: reply.trailers };
    } catch (error) {
      if (isBreakerError(error)) {
        // Refused without touching the domain: no load, so no budget cost and no fault count.
        scope.end({ outcome: 'refused', ms: this.clock.now() - started, reason: 'breaker-open', details: (error as Error).message });
        return { kind: 'refused', said: (error as Error).message.toLowerCase() };
      }
      const e = error as BackendError;
      domain.stats.recordRequest();
      if (e.callerCancelled === true) {
        scope.end({ outcome: 'cancelled', ms: this.clock.now() - started });
        return { kind: 'cancelled' };
      }
      if (isNotAFault(e)) {
        domain.stats.recordCallerError();
        scope.end({ outcome: 'caller-error', ms: this.clock.now() - started, code: e.code });
        this.budget.onSuccess(name);
        return { kind: 'caller-error', code: e.code, details: e.details, trailers: e.metadata };
      }
      if (suspect !== undefined && e.code === suspect) {
        // The breaker's filter already kept this one out of its window (see breaker-factory.ts).
        domain.stats.recordCallerError();
        scope.end({ outcome: 'caller-error', ms: this.clock.now() - started, code: e.code });
        return { kind: 'query-of-death', said: describe(e) };
      }
      domain.stats.recordFault();
      this.budget.onFailure(name);
      const said = describe(e);
      scope.end({ outcome: 'fault', ms: this.clock.now() - started, code: e.code, reason: faultReason(e), details: said });
      return { kind: 'fault', said, ...(typeof e.code === 'number' ? { code: e.code } : {}) };
    }
  }

  /**
   * Sends a copy of the request to a half-open domain without making the caller wait on it: the
   * breaker lets this one call through, and its outcome closes or reopens the breaker.
   */
  private probe(domain: FaultDomain, req: ForwardRequest): void {
    void this.sendCopy(domain, req);
  }

  /**
   * Sends a copy of the request to a domain ranked behind on figures it has had no calls to bring
   * up to date, without making the caller wait on it (see `RoutePlan.refreshes`). Answered within
   * `withinMs`, the old figures are forgotten and this answer is the first of the new ones.
   */
  private refresh(domain: FaultDomain, req: ForwardRequest, withinMs: number): void {
    // The plan may come from a snapshot taken before the last refresh went out.
    if (domain.refreshInFlight) return;
    domain.refreshInFlight = true;
    void this.sendCopy(domain, req, (ms) => {
      if (ms <= withinMs) domain.stats.forgetFigures();
    }).finally(() => {
      domain.refreshInFlight = false;
      this.snapshots.invalidate();
    });
  }

  /**
   * Sends a copy of the request that no caller waits on, through the domain's breaker, and records
   * its outcome in the domain's figures; `beforeSuccess` sees an answer's latency before it is.
   */
  private sendCopy(domain: FaultDomain, req: ForwardRequest, beforeSuccess?: (ms: number) => void): Promise<void> {
    const started = this.clock.now();
    return domain.breaker
      .fire(req.method, req.bytes, { deadline: started + this.attemptTimeoutMs, ...(req.metadata === undefined ? {} : { metadata: req.metadata }) })
      .then(
        () => {
          const ms = this.clock.now() - started;
          beforeSuccess?.(ms);
          domain.stats.recordRequest();
          domain.stats.recordSuccess(ms);
        },
        (error: unknown) => {
          if (isBreakerError(error)) return;
          domain.stats.recordRequest();
          if (isNotAFault(error)) domain.stats.recordCallerError();
          else domain.stats.recordFault();
        },
      );
  }
}

/** A short word for why an attempt failed: the domain's `authmesh-reason`, else the status name. */
function faultReason(e: BackendError): string {
  const said = readErrorTrailers(e).reason;
  if (said !== undefined && said !== '') return said;
  const name = typeof e.code === 'number' ? status[e.code] : undefined;
  return name === undefined ? 'error' : name.toLowerCase().replace(/_/g, '-');
}

function describe(e: BackendError): string {
  const code = typeof e.code === 'number' ? (status[e.code] ?? String(e.code)) : 'ERROR';
  const details = e.details ?? e.message;
  return details ? `${code} ${details}` : code;
}
