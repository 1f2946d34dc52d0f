/** What the failover loop tells an observer about each attempt, and an observer that listens to none. */
import type { Metadata, status } from '@grpc/grpc-js';
import type { TokenMethod } from '../pass-through.js';

/** One attempt on a fault domain as the failover loop starts it. */
export interface AttemptStart {
  domain: string;
  /** 1 for the first attempt of the call. */
  attempt: number;
  breaker: 'closed' | 'open' | 'half-open';
  method: TokenMethod;
}

/**
 * How an attempt ended. `fault` and `refused` are the ones the loop moves on from; `reason` is a
 * short word for why (`breaker-open`, `unavailable`, `cache-miss-unfillable`, …) and `details`
 * what the domain or the breaker said.
 */
export type AttemptEnd =
  | { outcome: 'answered'; ms: number; trailers: Metadata }
  | { outcome: 'caller-error'; ms: number; code: status }
  | { outcome: 'refused'; ms: number; reason: string; details: string }
  | { outcome: 'fault'; ms: number; code: status; reason: string; details: string }
  | { outcome: 'cancelled'; ms: number };

/** The life of one attempt, handed to an observer. */
export interface AttemptScope {
  /** Runs the attempt's call; an adapter may run it inside its own context (a span). */
  run<T>(call: () => Promise<T>): Promise<T>;
  end(end: AttemptEnd): void;
}

/** Watches the failover loop's attempts; adapters turn them into spans, metrics and logs. */
export interface AttemptObserver {
  /** The call's plan: domains in the order they will be tried, and those left out and why. */
  planned?(order: readonly string[], skipped: readonly { name: string; why: string }[]): void;
  begin(start: AttemptStart): AttemptScope;
}

const NOOP_SCOPE: AttemptScope = { run: (call) => call(), end: () => undefined };

/** The observer used when none is given. */
export const NOOP_ATTEMPT_OBSERVER: AttemptObserver = { begin: () => NOOP_SCOPE };
