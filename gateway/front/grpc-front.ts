/** The public gRPC front: answers TokenService calls on node:http2 and relays every other call to the inner grpc-js server. */
import http2, { type ClientHttp2Session, type Http2SecureServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { DEFAULT_CONNECTION_AGE, limitSessionAge, MAX_REQUEST_BYTES, type ConnectionAgeLimits } from '../../lib/grpc/index.js';
import type { Logger } from '../../lib/log/index.js';
import { InFlightLimit, type Forwarder } from '../routing/forwarder.js';
import { FRONT_LIMITS, type FrontLimits } from './grpc-front-limits.js';
import { InnerRelay } from './grpc-front-relay.js';
import { TokenCalls } from './grpc-front-token-call.js';
import { TOKEN_PATHS } from './grpc-front-wire.js';
import { RequestMetrics } from './request-metrics.js';

export { FRONT_LIMITS, type FrontLimits } from './grpc-front-limits.js';

const { HTTP2_HEADER_PATH } = http2.constants;

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
 * The gateway's public gRPC listener, on node:http2 directly.
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
  const server = createServer(opts.tls, limits);
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => undefined);
    const path = headers[HTTP2_HEADER_PATH];
    const target = typeof path === 'string' ? TOKEN_PATHS.get(path) : undefined;
    if (target !== undefined) calls.answer(stream, headers, target);
    else inner.relay(stream, headers);
  });
  const sessions = trackSessions(server, opts.connectionAge ?? DEFAULT_CONNECTION_AGE);
  const { host, port } = await listen(server, opts.listen);
  return {
    address: `${host}:${port}`,
    port,
    get inFlight() {
      return calls.inFlight;
    },
    async close(graceMs: number) {
      calls.draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sessions) s.close();
      if (calls.inFlight > 0) {
        await new Promise<void>((resolve) => {
          calls.idle = resolve;
          setTimeout(resolve, graceMs).unref();
        });
      }
      for (const s of sessions) s.destroy();
      inner.destroy();
      await closed;
    },
  };
}

/** The HTTP/2 server (h2c, or TLS with ALPN h2) with the per-connection limits. */
function createServer(tls: GrpcFrontOptions['tls'], limits: FrontLimits): Http2Server | Http2SecureServer {
  const settings = {
    maxSessionMemory: limits.maxSessionMemoryMb,
    maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
    settings: { maxConcurrentStreams: limits.maxStreamsPerConnection },
  };
  const server = tls === undefined ? http2.createServer(settings) : http2.createSecureServer({ ...settings, cert: tls.cert, key: tls.key, ALPNProtocols: ['h2'] });
  server.on('sessionError', () => undefined);
  server.on('tlsClientError', () => undefined);
  return server;
}

/** The server's open sessions, each sent GOAWAY once it reaches its age. */
function trackSessions(server: Http2Server | Http2SecureServer, connectionAge: ConnectionAgeLimits): Set<ServerHttp2Session> {
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    limitSessionAge(session, connectionAge);
    session.on('error', () => undefined);
    session.once('close', () => sessions.delete(session));
  });
  return sessions;
}

/** Listens on `host:port` (port 0 picks one); the host as given and the port taken. */
async function listen(server: Http2Server | Http2SecureServer, address: string): Promise<{ host: string; port: number }> {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(address.slice(at + 1)), host.replace(/^\[|\]$/g, ''), () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { host, port: (server.address() as AddressInfo).port };
}
