/** The public gRPC front: answers TokenService calls on the project's own HTTP/2 connection layer and relays every other call to the inner grpc-js server. */
import type { ClientHttp2Session } from 'node:http2';
import { DEFAULT_CONNECTION_AGE, MAX_REQUEST_BYTES, type ConnectionAgeLimits } from '../../lib/grpc/index.js';
import { listenHttp2 } from '../../lib/http2/server.js';
import type { Logger } from '../../lib/log/index.js';
import { InFlightLimit, type Forwarder } from '../routing/forwarder.js';
import { FRONT_LIMITS, type FrontLimits } from './grpc-front-limits.js';
import { InnerRelay } from './grpc-front-relay.js';
import { TokenCalls } from './grpc-front-token-call.js';
import { TOKEN_PATHS } from './grpc-front-wire.js';
import { RequestMetrics } from './request-metrics.js';

export { FRONT_LIMITS, type FrontLimits } from './grpc-front-limits.js';

/** Options of {@link startGrpcFront}. */
export interface GrpcFrontOptions {
  /** `host:port`; port 0 picks a free one. */
  listen: string;
  /** Public TLS certificate and key (PEM); plaintext (h2c) when undefined. */
  tls?: { cert: Buffer; key: Buffer };
  forwarder: Forwarder;
  /** Every other gRPC call (health, reflection, gateway admin) is relayed to this server. */
  inner: { connect(): ClientHttp2Session };
  log: Logger;
  /** TokenService calls in flight; past it RESOURCE_EXHAUSTED (overloaded) at once. */
  maxInFlight?: number;
  /** The in-flight count shared with the gateway's other fronts; default one of `maxInFlight`. */
  inFlightLimit?: InFlightLimit;
  /** Largest request message, bytes; larger fail with RESOURCE_EXHAUSTED. */
  maxRequestBytes?: number;
  /** Bounds on what callers can make the front hold; see {@link FRONT_LIMITS}. */
  limits?: Partial<FrontLimits>;
  /** When a caller's connection gets GOAWAY so it reconnects; default {@link DEFAULT_CONNECTION_AGE}. */
  connectionAge?: ConnectionAgeLimits;
  /** Request counts and durations, shared with the gateway's other fronts; default one of its own. */
  requestMetrics?: RequestMetrics;
}

/** The front while it serves. */
export interface RunningGrpcFront {
  address: string;
  port: number;
  /** TokenService calls being answered now. */
  readonly inFlight: number;
  /** Stops taking connections and calls; waits up to graceMs for calls in flight, then closes every session. */
  close(graceMs: number): Promise<void>;
}

/**
 * The gateway's public gRPC listener, on the HTTP/2 connection layer of `lib/http2` (frames,
 * HPACK and flow control in a few objects per connection and one per stream, and one socket
 * write per turn of the event loop: a node:http2 stream costs about 35 µs of CPU before any of
 * the gateway's code runs, most of the cost of a forwarded call).
 *
 * TokenService calls (AcquireToken, GetJwks) are answered here: the length-prefixed request is
 * taken off the stream as bytes and handed to the failover loop, and the domain's reply bytes and
 * trailers go back as they came, with none of a general gRPC server's per-call layers
 * (interceptors, metadata objects, deserializers) on the hot path. Every other call — health,
 * reflection, the gateway's admin service — is relayed stream for stream to an inner grpc-js
 * server, so those keep grpc-js's full behaviour, streaming included.
 *
 * The front creates the server span of a token call itself, named and shaped as the grpc-js
 * instrumentation names its own (`grpc.authmesh.token.v1.TokenService/AcquireToken`, kind SERVER,
 * joined to the caller's trace context), so the attempt spans of the failover loop hang under it.
 */
export async function startGrpcFront(opts: GrpcFrontOptions): Promise<RunningGrpcFront> {
  const limits: FrontLimits = { ...FRONT_LIMITS, ...opts.limits };
  const calls = new TokenCalls({
    forwarder: opts.forwarder,
    log: opts.log,
    limit: opts.inFlightLimit ?? new InFlightLimit(opts.maxInFlight ?? Infinity),
    maxBytes: opts.maxRequestBytes ?? MAX_REQUEST_BYTES,
    limits,
    requestMetrics: opts.requestMetrics ?? new RequestMetrics(),
  });
  const inner = new InnerRelay(() => opts.inner.connect());
  const server = await listenHttp2({
    listen: opts.listen,
    ...(opts.tls === undefined ? {} : { tls: opts.tls }),
    limits: { maxConcurrentStreams: limits.maxStreamsPerConnection, maxOutboundBytes: limits.maxSessionMemoryMb * 1024 * 1024 },
    connectionAge: opts.connectionAge ?? DEFAULT_CONNECTION_AGE,
    onStream: (stream) => {
      const path = stream.headers[':path'];
      const target = typeof path === 'string' ? TOKEN_PATHS.get(path) : undefined;
      if (target !== undefined) calls.answer(stream, target);
      else inner.relay(stream);
    },
    onError: (err) => opts.log.error({ err }, 'public gRPC front: a call handler failed; its connection was closed'),
  });
  return {
    address: `${server.host}:${server.port}`,
    port: server.port,
    get inFlight() {
      return calls.inFlight;
    },
    async close(graceMs: number) {
      calls.draining = true;
      const closing = server.close(graceMs);
      if (calls.inFlight > 0) {
        await new Promise<void>((resolve) => {
          calls.idle = resolve;
          setTimeout(resolve, graceMs).unref();
        });
      }
      await closing;
      inner.destroy();
    },
  };
}
