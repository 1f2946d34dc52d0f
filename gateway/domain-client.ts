import type { CallerSignal } from './caller-signal.js';
import { Client, Metadata, credentials, status, type ChannelCredentials, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { meshChannelOptions, meshTarget } from '../lib/grpc/mesh-tls.js';
import { PassThroughTokenService, type TokenMethod } from './pass-through.js';

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

/** Options of {@link GrpcTokenBackend}. */
export interface GrpcBackendOptions {
  /**
   * Separate HTTP/2 connections to the domain, used round robin. Default 1. More than one spreads
   * the framing work of a busy gateway; each gets its own subchannel pool so they do not merge.
   */
  channels?: number;
  /** Extra grpc-js channel options. */
  channelOptions?: Record<string, number | string>;
  /** Sent as `authorization: Bearer <token>` on every call (the backup domain requires the mesh token). */
  bearerToken?: BearerToken;
  /** Channel credentials (mutual TLS inside the mesh). Default plaintext. */
  channelCredentials?: ChannelCredentials;
}

const EMPTY = Buffer.alloc(0);

/** A mesh token a backend sends: the token, or a function giving the current one (undefined sends none). */
export type BearerToken = string | (() => string | undefined);

/** A backend's `bearerToken` option as a function giving the current token. */
export function bearerSource(token: BearerToken | undefined): () => string | undefined {
  return typeof token === 'function' ? token : () => token;
}

/** {@link TokenBackend} over grpc-js with pass-through serializers, insecure on 127.0.0.1. */
export class GrpcTokenBackend implements TokenBackend {
  private readonly clients: Client[];
  private next = 0;
  private readonly bearerToken: () => string | undefined;

  constructor(
    readonly name: string,
    readonly address: string,
    options: GrpcBackendOptions = {},
  ) {
    this.bearerToken = bearerSource(options.bearerToken);
    const n = Math.max(1, options.channels ?? 1);
    const channelCredentials = options.channelCredentials ?? credentials.createInsecure();
    this.clients = Array.from(
      { length: n },
      () =>
        new Client(meshTarget(address), channelCredentials, {
          ...meshChannelOptions(address, channelCredentials),
          'grpc.keepalive_time_ms': 10_000,
          'grpc.keepalive_timeout_ms': 2_000,
          'grpc.initial_reconnect_backoff_ms': 100,
          'grpc.max_reconnect_backoff_ms': 2_000,
          ...(n > 1 ? { 'grpc.use_local_subchannel_pool': 1 } : {}),
          ...options.channelOptions,
        }),
    );
  }

  call(method: TokenMethod, requestBytes: Buffer, options: BackendCallOptions): Promise<BackendReply> {
    const client = this.clients[this.next]!;
    this.next = (this.next + 1) % this.clients.length;
    const def = PassThroughTokenService[method];
    return new Promise<BackendReply>((resolve, reject) => {
      if (options.signal?.aborted === true) {
        reject(cancelledByCaller());
        return;
      }
      let metadata = options.metadata ?? new Metadata();
      const bearer = this.bearerToken();
      if (bearer !== undefined) {
        metadata = metadata.clone();
        metadata.set('authorization', `Bearer ${bearer}`);
      }
      let bytes: Buffer | undefined;
      let failure: ServiceError | null = null;
      const call = client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        requestBytes,
        metadata,
        { deadline: options.deadline },
        (err, value) => {
          failure = err;
          bytes = value;
        },
      );
      const onAbort = (): void => call.cancel();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      // grpc-js runs the callback just before 'status', which carries the trailers.
      call.once('status', (s: StatusObject) => {
        options.signal?.removeEventListener('abort', onAbort);
        if (failure === null && s.code === status.OK) resolve({ bytes: bytes ?? EMPTY, trailers: s.metadata });
        else if (options.signal?.aborted === true) reject(cancelledByCaller());
        else reject(backendError(s.code, s.details, s.metadata));
      });
    });
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
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
