/** The grpc-js transport: token calls to a domain through grpc-js clients with pass-through serializers. */
import { Client, Metadata, credentials, status, type ChannelCredentials, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { meshChannelOptions, meshTarget } from '../../lib/grpc/mesh-tls.js';
import { PassThroughTokenService, type TokenMethod } from '../pass-through.js';
import { backendError, bearerSource, cancelledByCaller, type BackendCallOptions, type BackendReply, type BearerToken, type TokenBackend } from '../routing/token-backend.js';

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
