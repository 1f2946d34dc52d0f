/** One call's way through the failover loop: attempts in route order, hedges, and what the caller is told. */
import { Metadata, status } from '@grpc/grpc-js';
import type { Clock } from '../../lib/clock/index.js';
import { invalidRequest, unavailable } from '../../lib/errors/index.js';
import { REASON_KEY, toStatus } from '../../lib/grpc/index.js';
import type { RoutePlan } from './choose-domain.js';
import type { FaultDomain } from './fault-domain.js';
import type { HedgeTarget, HedgeTimer } from './hedge-timer.js';
import { ATTEMPTS_KEY, FAULT_DOMAIN_KEY, type ForwardRequest, type ForwardResult } from './forwarder.js';
import type { RetryBudget } from './retry-budget.js';

/** How one attempt ended. */
export type AttemptOutcome =
  | { kind: 'answer'; bytes: Buffer; trailers: Metadata }
  | { kind: 'caller-error'; code: status; details: string; trailers: Metadata }
  | { kind: 'fault'; said: string; code?: status }
  | { kind: 'query-of-death'; said: string }
  | { kind: 'refused'; said: string }
  | { kind: 'cancelled' };

/** Shared by the attempts of one call. */
export interface CallState {
  /** The caller has its answer (a hedge won); later attempts only feed the breakers. */
  answered: boolean;
}

/** What a call's loop needs from the failover loop that runs it. */
export interface CallHost {
  readonly clock: Clock;
  readonly budget: RetryBudget;
  /** No attempt starts with less than this left before the caller's deadline, ms. */
  readonly minAttemptMs: number;
  /** The hedging delays of every call; none turns hedging off. */
  readonly hedges: HedgeTimer | undefined;
  domain(name: string): FaultDomain;
  /** One attempt on one domain, with its bookkeeping; never rejects. */
  attempt(domain: FaultDomain, attempt: number, req: ForwardRequest, left: number, call: CallState, suspect: status | undefined): Promise<AttemptOutcome>;
  /** Told what each domain said when no domain could answer. */
  onNoAnswer?: ((said: readonly string[]) => void) | undefined;
}

interface Settled {
  id: number;
  name: string;
  outcome: AttemptOutcome;
}

const HEDGE = Symbol('hedge');

/**
 * Failures a request's content can cause on a domain that is otherwise well: not transport
 * failures, timeouts or overload (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, CANCELLED).
 */
const QUERY_OF_DEATH_CODES: ReadonlySet<status> = new Set([status.INTERNAL, status.UNKNOWN, status.UNIMPLEMENTED, status.DATA_LOSS]);

/**
 * The loop of one call: start an attempt on the best domain, and on a retryable fault move on to
 * the next at once while the deadline and the retry budget allow; with hedging, a slow attempt
 * gets company from the next domain and the first answer wins.
 */
export class FailoverCall implements HedgeTarget {
  /** What each domain said, made on the first thing to say (most calls have none). */
  private saidList: string[] | undefined;
  /** What the caller is told: `said` without the domains' own error text. */
  private toldList: string[] | undefined;
  private readonly skipped: RoutePlan['skipped'];
  private readonly order: readonly string[];
  private readonly inflight = new Map<number, Promise<Settled>>();
  private readonly call: CallState = { answered: false };
  private next = 0;
  private attempts = 0;
  private previous: FaultDomain | undefined;
  /** The status of the first domain-side failure that a bad request could have caused. */
  private suspect: status | undefined;
  /** Wakes {@link firstToSettle} when the hedging delay passes; set while it waits with one armed. */
  private wake: ((hedge: typeof HEDGE) => void) | undefined;
  private hedgeTicket = 0;

  constructor(
    private readonly host: CallHost,
    private readonly req: ForwardRequest,
    private readonly deadline: number,
    plan: RoutePlan,
  ) {
    this.order = plan.order;
    this.skipped = plan.skipped;
  }

  private get said(): string[] {
    return (this.saidList ??= this.skippedLines());
  }

  private get told(): string[] {
    return (this.toldList ??= this.skippedLines());
  }

  /** The domains the plan skipped, and why: where both lists start. */
  private skippedLines(): string[] {
    return this.skipped.map((s) => `${s.name}: ${s.why}`);
  }

  /** Runs the call to its answer, its caller error, or the failure nobody could answer. */
  async run(): Promise<ForwardResult> {
    if (this.req.signal?.aborted === true) return failure(status.CANCELLED, 'cancelled by the caller', this.attempts);
    this.startNext();
    while (this.inflight.size > 0) {
      const first = await this.firstToSettle();
      this.stopHedge();
      if (first === HEDGE) {
        this.startNext();
        continue;
      }
      this.inflight.delete(first.id);
      const result = this.settled(first);
      if (result !== undefined) return result;
    }
    return this.noAnswer();
  }

  /** Starts an attempt on the next domain the budget and the deadline allow; false when none. */
  private startNext(): boolean {
    while (this.next < this.order.length) {
      const name = this.order[this.next]!;
      this.next += 1;
      if (this.attempts > 0 && !this.host.budget.allowFailover(name)) {
        this.note(`${name}: not tried, retry budget exhausted`);
        continue;
      }
      const left = this.deadline - this.host.clock.now();
      if (left < this.host.minAttemptMs) {
        this.note(`${name}: not tried, deadline reached`);
        this.next = this.order.length;
        return false;
      }
      const domain = this.host.domain(name);
      this.previous?.stats.recordFailover();
      this.previous = domain;
      this.attempts += 1;
      const id = this.attempts;
      this.inflight.set(id, this.host.attempt(domain, id, this.req, left, this.call, this.suspect).then((outcome) => ({ id, name, outcome })));
      return true;
    }
    return false;
  }

  /**
   * The first attempt to end, or {@link HEDGE} when the hedging delay passed first. Hedging: while
   * an attempt is still out after hedgeAfterMs and another domain is left, that one is asked too
   * and whichever answers first is taken. The slow attempt keeps running until its own timeout, so
   * its breaker still learns that the domain hangs.
   */
  private firstToSettle(): Promise<Settled | typeof HEDGE> {
    const hedges = this.next < this.order.length ? this.host.hedges : undefined;
    if (hedges === undefined && this.inflight.size === 1) {
      // One attempt out and nothing to race it against.
      return this.inflight.values().next().value!;
    }
    const waiting = new Promise<Settled | typeof HEDGE>((resolve) => {
      for (const attempt of this.inflight.values()) void attempt.then(resolve);
      if (hedges !== undefined) this.wake = resolve;
    });
    if (hedges !== undefined) this.hedgeTicket = hedges.schedule(this);
    return waiting;
  }

  /** The wait {@link firstToSettle} started is over: its hedging delay no longer matters. */
  private stopHedge(): void {
    if (this.wake === undefined) return;
    this.wake = undefined;
    this.host.hedges?.cancel(this.hedgeTicket, this);
  }

  hedgeDue(): void {
    this.wake?.(HEDGE);
  }

  /** The caller's result when this attempt's end decides the call; undefined when the call goes on. */
  private settled(first: Settled): ForwardResult | undefined {
    const o = first.outcome;
    const attempts = this.attempts;
    if (o.kind === 'answer' || o.kind === 'caller-error') this.call.answered = true;
    switch (o.kind) {
      case 'answer':
        return { ok: true, bytes: o.bytes, trailers: callerTrailers(o.trailers, first.name, attempts), domain: first.name, attempts };
      case 'caller-error':
        return { ok: false, code: o.code, details: o.details, trailers: callerTrailers(o.trailers, first.name, attempts), domain: first.name, attempts };
      case 'cancelled':
        return failure(status.CANCELLED, 'cancelled by the caller', attempts);
      case 'query-of-death':
        return this.queryOfDeath(first.name, o.said);
      default:
        if (o.kind === 'fault' && o.code !== undefined && QUERY_OF_DEATH_CODES.has(o.code)) this.suspect ??= o.code;
        // A failed attempt is replaced at once, also while a slower one is still out (a hedge
        // that hit a dead domain): waiting for the next hedge interval would add it to the call.
        this.said.push(`${first.name}: ${o.said}`);
        this.told.push(`${first.name}: ${o.kind === 'fault' ? o.code === undefined ? 'ERROR' : (status[o.code] ?? String(o.code)) : o.said}`);
        this.startNext();
        return undefined;
    }
  }

  /** Two domains failed the request the same way: it is the caller's error. */
  private queryOfDeath(name: string, said: string): ForwardResult {
    this.call.answered = true;
    const s = toStatus(invalidRequest('the request fails on every fault domain'));
    s.metadata.set(REASON_KEY, 'request-fails-everywhere');
    this.host.onNoAnswer?.([...this.said, `${name}: ${said}`, 'same failure twice: answered as the caller\'s error']);
    return { ok: false, code: s.code, details: s.details, trailers: callerTrailers(s.metadata, undefined, this.attempts), attempts: this.attempts };
  }

  /** Nothing answered: UNAVAILABLE naming each domain with what it gave. */
  private noAnswer(): ForwardResult {
    if (this.said.length > 0) this.host.onNoAnswer?.(this.said);
    const message = `no fault domain could answer: ${this.told.length > 0 ? this.told.join('; ') : 'no fault domain configured'}`;
    const s = toStatus(unavailable('no-healthy-domain', message));
    s.metadata.set(ATTEMPTS_KEY, String(this.attempts));
    return { ok: false, code: s.code, details: s.details, trailers: s.metadata, attempts: this.attempts };
  }

  /** A domain not tried, in what is logged and what the caller is told alike. */
  private note(why: string): void {
    this.said.push(why);
    this.told.push(why);
  }
}

/**
 * The domain's trailers as the caller gets them: without `grpc-*` keys and with the gateway's own
 * two. `from` is the attempt's own object (each reply decodes into a new one), so it is changed
 * in place rather than copied key by key.
 */
function callerTrailers(from: Metadata | undefined, domain: string | undefined, attempts: number): Metadata {
  const out = from ?? new Metadata();
  if (from !== undefined) {
    for (const key in from.toJSON()) if (key.startsWith('grpc-')) out.remove(key);
    out.remove(FAULT_DOMAIN_KEY);
  }
  if (domain !== undefined) out.set(FAULT_DOMAIN_KEY, domain);
  out.set(ATTEMPTS_KEY, String(attempts));
  return out;
}

function failure(code: status, details: string, attempts: number): ForwardResult {
  return { ok: false, code, details, trailers: callerTrailers(undefined, undefined, attempts), attempts };
}
