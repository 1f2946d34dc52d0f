/** The one interface routing sends calls through: what a domain transport is and how it fails. */
import { Metadata, status } from '@grpc/grpc-js';
import type { CallerSignal } from './caller-signal.js';
import type { TokenMethod } from '../pass-through.js';

/** Per-call options of {@link TokenBackend.call}. */
export interface BackendCallOptions {
  /** Absolute deadline of this attempt, ms since the epoch. */
  deadline: number;
  /** Request metadata to forward (already stripped of transport headers). */
  metadata?: Metadata;
  /** Aborts the attempt (the caller went away). */
  signal?: CallerSignal;
  /**
   * Another domain already failed this request with this status (query of death): the same
   * failure here is the request's, and the breaker does not count it.
   */
  sameFailureIsTheRequests?: number;
}

/** A domain's answer: the response bytes as received, and its trailing metadata. */
export interface BackendReply {
  bytes: Buffer;
  trailers: Metadata;
}

/**
 * A failed attempt, shaped like grpc-js's ServiceError so status and trailers travel with it.
 * `callerCancelled` marks an attempt ended because the caller went away: not the domain's fault.
 */
export interface BackendError extends Error {
  code: status;
  details: string;
  metadata: Metadata;
  callerCancelled?: boolean;
}

/**
 * The narrow transport the gateway routes over: one fault domain that takes raw request bytes of
 * a token method and returns raw response bytes. Tests substitute fakes that fail or stall.
 * Rejects with a {@link BackendError}.
 */
export interface TokenBackend {
  readonly name: string;
  readonly address: string;
  call(method: TokenMethod, requestBytes: Buffer, options: BackendCallOptions): Promise<BackendReply>;
  close(): void;
}

/** A mesh token a backend sends: the token, or a function giving the current one (undefined sends none). */
export type BearerToken = string | (() => string | undefined);

/** A backend's `bearerToken` option as a function giving the current token. */
export function bearerSource(token: BearerToken | undefined): () => string | undefined {
  return typeof token === 'function' ? token : () => token;
}

/** Builds a {@link BackendError}. */
export function backendError(code: status, details: string, metadata = new Metadata()): BackendError {
  const e = new Error(`${status[code]}: ${details}`) as BackendError;
  e.code = code;
  e.details = details;
  e.metadata = metadata;
  return e;
}

/** A {@link BackendError} for an attempt ended because the caller went away. */
export function cancelledByCaller(): BackendError {
  const e = backendError(status.CANCELLED, 'cancelled by the caller');
  e.callerCancelled = true;
  return e;
}
