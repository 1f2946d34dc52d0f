import http2, {
  type ClientHttp2Session,
  type Http2SecureServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Metadata, status } from '@grpc/grpc-js';
import { context, propagation, SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import { invalidRequest, overloaded } from '../../lib/errors/index.js';
import { DEFAULT_CONNECTION_AGE, limitSessionAge, MAX_REQUEST_BYTES, toStatus, type ConnectionAgeLimits } from '../../lib/grpc/index.js';
import { encodeStatusMessage, frame, parseGrpcTimeout, readMessage } from '../../lib/grpc/framing.js';
import { decodesAsStringMessage } from '../../lib/grpc/wire-check.js';
import type { Logger } from '../../lib/log/index.js';
import { CallerGone, InFlightLimit, type ForwardRequest, type ForwardResult } from '../routing/forwarder.js';
import { methodPath, TOKEN_SERVICE_NAME, wireMethodName, type TokenMethod } from '../pass-through.js';
import { now, oauthErrorOf, RequestMetrics, type MethodMetrics } from './request-metrics.js';

const { HTTP2_HEADER_PATH, HTTP2_HEADER_STATUS, HTTP2_HEADER_CONTENT_TYPE, NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** What answers a token call: the gateway's failover loop. */
export interface Forwarder {
  forward(req: ForwardRequest): Promise<ForwardResult>;
}

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

/** What one caller, or all of them together, can make the public front hold. */
export interface FrontLimits {
  /** Streams open at once on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). Default 100. */
  maxStreamsPerConnection: number;
  /** nghttp2's memory per connection, MB: past it new streams are refused. Default 32. */
  maxSessionMemoryMb: number;
  /** Request bytes buffered over every unfinished token call; past it RESOURCE_EXHAUSTED. Default 64 MiB. */
  maxBufferedBytes: number;
  /** Time from a token call's headers to the end of its request body, ms; past it DEADLINE_EXCEEDED. Default 5000. */
  requestBodyTimeoutMs: number;
}

export const FRONT_LIMITS: Readonly<FrontLimits> = Object.freeze({
  maxStreamsPerConnection: 100,
  maxSessionMemoryMb: 32,
  maxBufferedBytes: 64 * 1024 * 1024,
  requestBodyTimeoutMs: 5_000,
});

/** The front while it serves. */
export interface RunningGrpcFront {
  address: string;
  port: number;
  /** TokenService calls being answered now. */
  readonly inFlight: number;
  /** Stops taking connections and calls; waits up to graceMs for calls in flight, then closes every session. */
  close(graceMs: number): Promise<void>;
}

/** A token method the front answers, with its server span's name and attributes made once. */
interface FrontMethod {
  method: TokenMethod;
  spanName: string;
  attributes: Attributes;
  /** `method` label of the request metrics. */
  wireName: string;
  /** Whether the bytes decode as the method's request message. */
  decodes(bytes: Buffer): boolean;
}

const TOKEN_PATHS: ReadonlyMap<string, FrontMethod> = new Map(
  (['acquireToken', 'getJwks'] as const).map((method) => [
    methodPath(method),
    {
      method,
      spanName: `grpc.${TOKEN_SERVICE_NAME}/${wireMethodName(method)}`,
      attributes: { 'rpc.system': 'grpc', 'rpc.service': TOKEN_SERVICE_NAME, 'rpc.method': wireMethodName(method) },
      wireName: wireMethodName(method),
      // Both request messages hold strings only: a wire-format walk answers as their decoders do
      // (test/fuzz/wire-check.test.ts) without building the message.
      decodes: decodesAsStringMessage,
    },
  ]),
);

/**
 * Request headers that belong to the caller's connection or call framing and are not forwarded.
 * `accept-encoding` (grpc-js sends it on every call) and `content-length` (h2load and other
 * HTTP/2 clients that know their body's size) describe this hop's HTTP body: as metadata they
 * would cost each call a metadata object here and a merged copy of the relay stream's at the domain.
 */
const TRANSPORT_HEADERS: ReadonlySet<string> = new Set(['user-agent', 'content-type', 'te', 'host', 'accept-encoding', 'content-length']);

function isTransportHeader(key: string): boolean {
  return key.startsWith(':') || key.startsWith('grpc-') || TRANSPORT_HEADERS.has(key);
}

/** The caller's metadata minus transport headers, or undefined when nothing is left (the usual case). */
function forwardableMetadata(headers: IncomingHttpHeaders): Metadata | undefined {
  let any = false;
  for (const key in headers) if (!isTransportHeader(key)) any = true;
  if (!any) return undefined;
  const md = Metadata.fromHttp2Headers(headers);
  for (const key of Object.keys(md.getMap())) if (isTransportHeader(key)) md.remove(key);
  return md;
}

/** The caller's error for bytes that are not a request: its status, INTERNAL made INVALID_ARGUMENT, and `oauth-error: invalid_request`. */
function badRequest(code: status, details: string): ReturnType<typeof toStatus> {
  const s = toStatus(invalidRequest(details));
  return { ...s, code: code === status.INTERNAL || code === status.INVALID_ARGUMENT ? status.INVALID_ARGUMENT : code };
}

/** Trailers of a gRPC status: grpc-status, grpc-message and the custom metadata. */
function statusTrailers(code: status, details: string, metadata: Metadata | undefined): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = metadata === undefined ? {} : (metadata.toHttp2Headers() as OutgoingHttpHeaders);
  out['grpc-status'] = String(code);
  if (details !== '') out['grpc-message'] = encodeStatusMessage(details);
  return out;
}

/** A status with no message sent ("trailers-only"). */
function respondStatus(stream: ServerHttp2Stream, code: status, details: string, metadata?: Metadata): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond({ [HTTP2_HEADER_STATUS]: 200, [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc', ...statusTrailers(code, details, metadata) }, { endStream: true });
}

/** One message and then the status in trailers. */
function respondMessage(stream: ServerHttp2Stream, bytes: Buffer, trailers: Metadata): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond({ [HTTP2_HEADER_STATUS]: 200, [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers(statusTrailers(status.OK, '', trailers)));
  stream.end(frame(bytes));
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
  const limit = opts.inFlightLimit ?? new InFlightLimit(opts.maxInFlight ?? Infinity);
  const maxBytes = opts.maxRequestBytes ?? MAX_REQUEST_BYTES;
  const limits: FrontLimits = { ...FRONT_LIMITS, ...opts.limits };
  const connectionAge = opts.connectionAge ?? DEFAULT_CONNECTION_AGE;
  /** Request bytes held for token calls whose body has not ended yet. */
  let buffered = 0;
  const tracer = trace.getTracer('authmesh-gateway');
  const requestMetrics = opts.requestMetrics ?? new RequestMetrics();
  const recorders = new Map<FrontMethod, MethodMetrics>([...TOKEN_PATHS.values()].map((m) => [m, requestMetrics.method(m.wireName)]));
  const sessions = new Set<http2.ServerHttp2Session>();
  let inFlight = 0;
  let draining = false;
  let idle: (() => void) | undefined;
  let inner: ClientHttp2Session | undefined;

  const innerSession = (): ClientHttp2Session => {
    if (inner === undefined || inner.closed || inner.destroyed) {
      const s = opts.inner.connect();
      s.on('error', () => undefined);
      s.once('close', () => {
        if (inner === s) inner = undefined;
      });
      s.unref();
      inner = s;
    }
    return inner;
  };

  const answerToken = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, target: FrontMethod): void => {
    const method = target.method;
    const recorder = recorders.get(target)!;
    const started = now();
    if (draining) {
      recorder.record(started, status.UNAVAILABLE, '', '');
      return respondStatus(stream, status.UNAVAILABLE, 'gateway shutting down');
    }
    const contentType = headers[HTTP2_HEADER_CONTENT_TYPE];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      if (!stream.destroyed) stream.respond({ [HTTP2_HEADER_STATUS]: 415 }, { endStream: true });
      return;
    }
    const received = Date.now();
    // A call holds a slot from its headers on, partial body included: the body timeout bounds how
    // long a caller that never finishes its request can hold it.
    if (!limit.tryEnter()) {
      const s = toStatus(overloaded('gateway saturated; retry with backoff'));
      recorder.record(started, s.code, oauthErrorOf(s.metadata), '');
      return respondStatus(stream, s.code, s.details, s.metadata);
    }
    inFlight += 1;
    const gone = new CallerGone();
    let finished = false;
    let recorded = false;
    /** Counts the call once, with what the caller is sent. */
    const record = (code: number, trailers: Metadata | undefined, domain: string | undefined): void => {
      if (recorded) return;
      recorded = true;
      recorder.record(started, code, oauthErrorOf(trailers), domain ?? '');
    };
    const chunks: Buffer[] = [];
    let size = 0;
    let rejected = false;
    const release = (): void => {
      buffered -= size;
      size = 0;
      chunks.length = 0;
    };
    const finish = (): void => {
      if (finished) return;
      finished = true;
      // A call that ends with nothing sent is one the caller cancelled.
      record(status.CANCELLED, undefined, undefined);
      clearTimeout(bodyTimer);
      release();
      limit.leave();
      inFlight -= 1;
      if (draining && inFlight === 0) idle?.();
    };
    const reject = (code: status, details: string, metadata?: Metadata): void => {
      rejected = true;
      record(code, metadata, undefined);
      respondStatus(stream, code, details, metadata);
      finish();
      // The rest of the body is not read: the stream is reset once the answer is out.
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    };
    const bodyTimer = setTimeout(() => reject(status.DEADLINE_EXCEEDED, `request body not received within ${limits.requestBodyTimeoutMs} ms`), limits.requestBodyTimeoutMs);
    bodyTimer.unref();
    stream.on('close', () => {
      if (!finished) gone.abort();
      finish();
    });
    stream.on('data', (chunk: Buffer) => {
      if (rejected || finished) return;
      if (size + chunk.length > maxBytes + 5) return reject(status.RESOURCE_EXHAUSTED, `request larger than ${maxBytes} bytes`);
      if (buffered + chunk.length > limits.maxBufferedBytes) {
        const s = toStatus(overloaded('gateway holds too many unfinished requests; retry with backoff'));
        return reject(s.code, s.details, s.metadata);
      }
      size += chunk.length;
      buffered += chunk.length;
      chunks.push(chunk);
    });
    stream.on('end', () => {
      if (rejected || finished) return;
      clearTimeout(bodyTimer);
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      release();
      const message = readMessage(body, headers['grpc-encoding'], maxBytes);
      if (typeof message === 'object' && 'code' in message) {
        const s = badRequest(message.code, message.details);
        record(s.code, s.metadata, undefined);
        respondStatus(stream, s.code, s.details, s.metadata);
        finish();
        return;
      }
      // Keeps bytes no domain could read off the failover loop altogether.
      if (!target.decodes(message)) {
        const s = badRequest(status.INVALID_ARGUMENT, 'request is not a valid protobuf message for this method');
        record(s.code, s.metadata, undefined);
        respondStatus(stream, s.code, s.details, s.metadata);
        finish();
        return;
      }
      const metadata = forwardableMetadata(headers);
      const deadline = parseGrpcTimeout(headers['grpc-timeout'], received);
      const request: ForwardRequest = {
        method,
        bytes: message,
        signal: gone,
        ...(metadata === undefined ? {} : { metadata }),
        ...(deadline === undefined ? {} : { deadline }),
      };
      const parent = propagation.extract(context.active(), headers);
      const span = tracer.startSpan(target.spanName, { kind: SpanKind.SERVER, attributes: target.attributes }, parent);
      // One promise reaction per call: each handler ends the span and the call itself.
      context.with(trace.setSpan(parent, span), () => opts.forwarder.forward(request)).then(
        (r) => {
          try {
            span.setAttribute('rpc.grpc.status_code', r.ok ? status.OK : r.code);
            if (!stream.destroyed) record(r.ok ? status.OK : r.code, r.ok ? undefined : r.trailers, r.domain);
            if (!r.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: r.details });
            if (r.ok) respondMessage(stream, r.bytes, r.trailers);
            else respondStatus(stream, r.code, r.details, r.trailers);
          } finally {
            span.end();
            finish();
          }
        },
        (error: unknown) => {
          try {
            opts.log.error({ err: error, method }, 'failover loop failed');
            const s = toStatus(error);
            span.setAttribute('rpc.grpc.status_code', s.code);
            record(s.code, s.metadata, undefined);
            span.setStatus({ code: SpanStatusCode.ERROR, message: s.details });
            respondStatus(stream, s.code, s.details, s.metadata);
          } finally {
            span.end();
            finish();
          }
        },
      );
    });
  };

  /** Relays one call to the inner grpc-js server: headers, messages and trailers both ways. */
  const relay = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
    const out: OutgoingHttpHeaders = {};
    for (const key in headers) if (key !== ':authority' && key !== ':scheme') out[key] = headers[key];
    let upstream: http2.ClientHttp2Stream;
    try {
      upstream = innerSession().request(out);
    } catch (err) {
      respondStatus(stream, status.UNAVAILABLE, `gateway: ${(err as Error).message}`);
      return;
    }
    let trailers: IncomingHttpHeaders | undefined;
    upstream.on('response', (h, flags) => {
      if (stream.destroyed) return;
      const reply: OutgoingHttpHeaders = { ...h };
      if (((flags ?? 0) & NGHTTP2_FLAG_END_STREAM) !== 0) {
        stream.respond(reply, { endStream: true });
        return;
      }
      stream.respond(reply, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers(trailersOf(trailers)));
    });
    upstream.on('trailers', (t) => {
      trailers = t;
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!stream.destroyed && stream.headersSent) stream.write(chunk);
    });
    upstream.on('end', () => {
      if (!stream.destroyed && stream.headersSent && !stream.writableEnded) stream.end();
    });
    upstream.on('error', () => undefined);
    upstream.on('close', () => {
      if (!stream.headersSent) respondStatus(stream, status.UNAVAILABLE, 'gateway: inner server closed the call');
      else if (!stream.writableEnded && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
    });
    stream.on('data', (chunk: Buffer) => upstream.write(chunk));
    stream.on('end', () => upstream.end());
    stream.on('close', () => {
      if (!upstream.closed) upstream.close(NGHTTP2_CANCEL);
    });
  };

  const onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void => {
    stream.on('error', () => undefined);
    const path = headers[HTTP2_HEADER_PATH];
    const target = typeof path === 'string' ? TOKEN_PATHS.get(path) : undefined;
    if (target !== undefined) answerToken(stream, headers, target);
    else relay(stream, headers);
  };

  const settings = {
    maxSessionMemory: limits.maxSessionMemoryMb,
    maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
    settings: { maxConcurrentStreams: limits.maxStreamsPerConnection },
  };
  const server: Http2Server | Http2SecureServer =
    opts.tls === undefined ? http2.createServer(settings) : http2.createSecureServer({ ...settings, cert: opts.tls.cert, key: opts.tls.key, ALPNProtocols: ['h2'] });
  server.on('stream', onStream);
  server.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    limitSessionAge(session, connectionAge);
    session.on('error', () => undefined);
    session.once('close', () => sessions.delete(session));
  });
  server.on('sessionError', () => undefined);
  server.on('tlsClientError', () => undefined);

  const at = opts.listen.lastIndexOf(':');
  const host = opts.listen.slice(0, at);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(opts.listen.slice(at + 1)), host.replace(/^\[|\]$/g, ''), () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    address: `${host}:${port}`,
    port,
    get inFlight() {
      return inFlight;
    },
    async close(graceMs: number) {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sessions) s.close();
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          idle = resolve;
          setTimeout(resolve, graceMs).unref();
        });
      }
      for (const s of sessions) s.destroy();
      inner?.destroy();
      await closed;
    },
  };
}

/** The trailers to relay: what the inner server sent, or a status when it sent none. */
function trailersOf(t: IncomingHttpHeaders | undefined): OutgoingHttpHeaders {
  if (t === undefined) return { 'grpc-status': String(status.UNAVAILABLE), 'grpc-message': encodeStatusMessage('gateway: inner server sent no status') };
  const out: OutgoingHttpHeaders = {};
  for (const key in t) if (!key.startsWith(':')) out[key] = t[key];
  return out;
}
