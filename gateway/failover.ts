import { Metadata, status } from '@grpc/grpc-js';
import type { Clock } from '../lib/clock/index.js';
import { unavailable } from '../lib/errors/index.js';
import { toStatus } from '../lib/grpc/index.js';
import { NOOP_ATTEMPT_OBSERVER, type AttemptObserver } from './attempt-observer.js';
import { breakerState, isBreakerError, isNotAFault } from './breaker-factory.js';
import { chooseDomains, type RoutingOptions } from './choose-domain.js';
import type { BackendError } from './domain-client.js';
import type { FaultDomain } from './fault-domain.js';
import type { SnapshotSource } from './health-snapshot.js';
import type { TokenMethod } from './pass-through.js';
import type { RetryBudget } from './retry-budget.js';

/** Trailer naming the fault domain that answered. */
export const FAULT_DOMAIN_KEY = 'authmesh-fault-domain';
/** Trailer counting the attempts the gateway made for the call. */
export const ATTEMPTS_KEY = 'authmesh-attempts';

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
  routing?: RoutingOptions;
  /** Told about every attempt (spans, metrics); default none. */
  observer?: AttemptObserver;
}

/** One call to forward. */
export interface ForwardRequest {
  method: TokenMethod;
  bytes: Buffer;
  /** Request metadata to pass on. */
  metadata?: Metadata;
  /** The caller's deadline, ms since the epoch; undefined when the caller set none. */
  deadline?: number;
  /** Aborts the call when the caller goes away. */
  signal?: AbortSignal;
}

/** What the gateway answers: the domain's bytes, or a status; trailers in both cases. */
export type ForwardResult =
  | { ok: true; bytes: Buffer; trailers: Metadata; domain: string; attempts: number }
  | { ok: false; code: status; details: string; trailers: Metadata; domain?: string; attempts: number };

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
 * - When nothing answered: UNAVAILABLE, `oauth-error: temporarily_unavailable`,
 *   `authmesh-reason: no-healthy-domain`, and a message with what each domain said.
 */
export class Failover {
  private readonly byName: ReadonlyMap<string, FaultDomain>;
  private readonly defaultDeadlineMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly minAttemptMs: number;
  private readonly observer: AttemptObserver;

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
    this.minAttemptMs = options.minAttemptMs ?? 5;
    this.observer = options.observer ?? NOOP_ATTEMPT_OBSERVER;
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    const deadline = req.deadline ?? this.clock.now() + this.defaultDeadlineMs;
    const plan = chooseDomains(this.snapshots.current(), this.options.routing);
    this.observer.planned?.(plan.order, plan.skipped);
    for (const name of plan.probes) this.probe(this.byName.get(name)!, req);
    const said = plan.skipped.map((s) => `${s.name}: ${s.why}`);
    let attempts = 0;
    let previous: FaultDomain | undefined;
    for (const name of plan.order) {
      const domain = this.byName.get(name)!;
      if (attempts > 0 && !this.budget.allowFailover(name)) {
        said.push(`${name}: not tried, retry budget exhausted`);
        continue;
      }
      const left = deadline - this.clock.now();
      if (left < this.minAttemptMs) {
        said.push(`${name}: not tried, deadline reached`);
        break;
      }
      if (req.signal?.aborted === true) return this.failure(status.CANCELLED, 'cancelled by the caller', attempts);
      previous?.stats.recordFailover();
      previous = domain;
      attempts += 1;
      const started = this.clock.now();
      const scope = this.observer.begin({ domain: name, attempt: attempts, breaker: breakerState(domain.breaker), method: req.method });
      try {
        const reply = await scope.run(() =>
          domain.breaker.fire(req.method, req.bytes, {
            deadline: started + Math.min(left, this.attemptTimeoutMs),
            ...(req.metadata === undefined ? {} : { metadata: req.metadata }),
            ...(req.signal === undefined ? {} : { signal: req.signal }),
          }),
        );
        domain.stats.recordRequest();
        domain.stats.recordSuccess(this.clock.now() - started);
        scope.end({ outcome: 'answered', ms: this.clock.now() - started, trailers: reply.trailers });
        this.budget.onSuccess(name);
        return { ok: true, bytes: reply.bytes, trailers: this.trailers(reply.trailers, name, attempts), domain: name, attempts };
      } catch (error) {
        if (isBreakerError(error)) {
          // Refused without touching the domain: no load, so no budget cost and no fault count.
          said.push(`${name}: ${(error as Error).message.toLowerCase()}`);
          scope.end({ outcome: 'refused', ms: this.clock.now() - started, reason: 'breaker-open', details: (error as Error).message });
          continue;
        }
        const e = error as BackendError;
        domain.stats.recordRequest();
        if (e.callerCancelled === true) {
          scope.end({ outcome: 'cancelled', ms: this.clock.now() - started });
          return this.failure(status.CANCELLED, 'cancelled by the caller', attempts);
        }
        if (isNotAFault(e)) {
          domain.stats.recordCallerError();
          scope.end({ outcome: 'caller-error', ms: this.clock.now() - started, code: e.code });
          this.budget.onSuccess(name);
          return { ok: false, code: e.code, details: e.details, trailers: this.trailers(e.metadata, name, attempts), domain: name, attempts };
        }
        domain.stats.recordFault();
        this.budget.onFailure(name);
        said.push(`${name}: ${describe(e)}`);
        scope.end({ outcome: 'fault', ms: this.clock.now() - started, code: e.code, reason: faultReason(e), details: describe(e) });
      }
    }
    const message = `no fault domain could answer: ${said.length > 0 ? said.join('; ') : 'no fault domain configured'}`;
    const s = toStatus(unavailable('no-healthy-domain', message));
    s.metadata.set(ATTEMPTS_KEY, String(attempts));
    return { ok: false, code: s.code, details: s.details, trailers: s.metadata, attempts };
  }

  /**
   * Sends a copy of the request to a half-open domain without making the caller wait on it: the
   * breaker lets this one call through, and its outcome closes or reopens the breaker.
   */
  private probe(domain: FaultDomain, req: ForwardRequest): void {
    const started = this.clock.now();
    domain.breaker
      .fire(req.method, req.bytes, { deadline: started + this.attemptTimeoutMs, ...(req.metadata === undefined ? {} : { metadata: req.metadata }) })
      .then(
        () => {
          domain.stats.recordRequest();
          domain.stats.recordSuccess(this.clock.now() - started);
        },
        (error: unknown) => {
          if (isBreakerError(error)) return;
          domain.stats.recordRequest();
          if (isNotAFault(error)) domain.stats.recordCallerError();
          else domain.stats.recordFault();
        },
      );
  }

  private trailers(from: Metadata | undefined, domain: string | undefined, attempts: number): Metadata {
    const out = new Metadata();
    if (from !== undefined) {
      for (const [key, values] of Object.entries(from.toJSON())) {
        if (key.startsWith('grpc-') || key === FAULT_DOMAIN_KEY || key === ATTEMPTS_KEY) continue;
        for (const v of values) out.add(key, v);
      }
    }
    if (domain !== undefined) out.set(FAULT_DOMAIN_KEY, domain);
    out.set(ATTEMPTS_KEY, String(attempts));
    return out;
  }

  private failure(code: status, details: string, attempts: number): ForwardResult {
    return { ok: false, code, details, trailers: this.trailers(undefined, undefined, attempts), attempts };
  }
}

/** A short word for why an attempt failed: the domain's `authmesh-reason`, else the status name. */
function faultReason(e: BackendError): string {
  const said = e.metadata?.get?.('authmesh-reason')[0];
  if (typeof said === 'string' && said !== '') return said;
  const name = typeof e.code === 'number' ? status[e.code] : undefined;
  return name === undefined ? 'error' : name.toLowerCase().replace(/_/g, '-');
}

function describe(e: BackendError): string {
  const code = typeof e.code === 'number' ? (status[e.code] ?? String(e.code)) : 'ERROR';
  const details = e.details ?? e.message;
  return details ? `${code} ${details}` : code;
}
