/** The one interface the fronts forward token calls through, and what travels over it. */
import type { Metadata, status } from '@grpc/grpc-js';
import type { CallerSignal } from './caller-signal.js';
import type { TokenMethod } from '../pass-through.js';

export { CallerGone, type CallerSignal } from './caller-signal.js';
export { InFlightLimit } from './in-flight.js';

/** Trailer naming the fault domain that answered. */
export const FAULT_DOMAIN_KEY = 'authmesh-fault-domain';
/** Trailer counting the attempts the gateway made for the call. */
export const ATTEMPTS_KEY = 'authmesh-attempts';

/** One call to forward. */
export interface ForwardRequest {
  method: TokenMethod;
  bytes: Buffer;
  /** Request metadata to pass on. */
  metadata?: Metadata;
  /** The caller's deadline, ms since the epoch; undefined when the caller set none. */
  deadline?: number;
  /** Aborts the call when the caller goes away. */
  signal?: CallerSignal;
}

/** What the gateway answers: the domain's bytes, or a status; trailers in both cases. */
export type ForwardResult =
  | { ok: true; bytes: Buffer; trailers: Metadata; domain: string; attempts: number }
  | { ok: false; code: status; details: string; trailers: Metadata; domain?: string; attempts: number };

/** What forwards a call: the failover loop, or a front in front of it. */
export interface Forwarder {
  forward(req: ForwardRequest): Promise<ForwardResult>;
}
