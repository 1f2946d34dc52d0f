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
import { overloaded } from '../lib/errors/index.js';
import { MAX_REQUEST_BYTES, toStatus } from '../lib/grpc/index.js';
import { encodeStatusMessage, frame, parseGrpcTimeout, readMessage } from '../lib/grpc/framing.js';
import type { Logger } from '../lib/log/index.js';
import { CallerGone } from './caller-signal.js';
import type { ForwardRequest, ForwardResult } from './failover.js';
import { methodPath, TOKEN_SERVICE_NAME, wireMethodName, type TokenMethod } from './pass-through.js';

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
  /** Largest request message, bytes; larger fail with RESOURCE_EXHAUSTED. */
  maxRequestBytes?: number;
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

/** A token method the front answers, with its server span's name and attributes made once. */
interface FrontMethod {
  method: TokenMethod;
  spanName: string;
  attributes: Attributes;
}

const TOKEN_PATHS: ReadonlyMap<string, FrontMethod> = new Map(
  (['acquireToken', 'getJwks'] as const).map((method) => [
    methodPath(method),
    {
      method,
      spanName: `grpc.${TOKEN_SERVICE_NAME}/${wireMethodName(method)}`,
      attributes: { 'rpc.system': 'grpc', 'rpc.service': TOKEN_SERVICE_NAME, 'rpc.method': wireMethodName(method) },
    },
  ]),
);

/** Request headers that belong to the caller's connection or call framing and are not forwarded. */
function isTransportHeader(key: string): boolean {
  return key.startsWith(':') || key.startsWith('grpc-') || key === 'user-agent' || key === 'content-type' || key === 'te' || key === 'host';
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
  const maxInFlight = opts.maxInFlight ?? Infinity;
  const maxBytes = opts.maxRequestBytes ?? MAX_REQUEST_BYTES;
  const tracer = trace.getTracer('authmesh-gateway');
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
    if (draining) return respondStatus(stream, status.UNAVAILABLE, 'gateway shutting down');
    const contentType = headers[HTTP2_HEADER_CONTENT_TYPE];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      if (!stream.destroyed) stream.respond({ [HTTP2_HEADER_STATUS]: 415 }, { endStream: true });
      return;
    }
    const received = Date.now();
    const gone = new CallerGone();
    let finished = false;
    // Counted once the request is whole and handed on, as grpc-js counts a call once its message
    // arrived: a caller that opens streams and never finishes its request holds no slot.
    let counted = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      if (!counted) return;
      inFlight -= 1;
      if (draining && inFlight === 0) idle?.();
    };
    stream.on('close', () => {
      if (!finished) gone.abort();
      finish();
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    stream.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > maxBytes + 5) {
        tooLarge = true;
        respondStatus(stream, status.RESOURCE_EXHAUSTED, `request larger than ${maxBytes} bytes`);
        finish();
        return;
      }
      chunks.push(chunk);
    });
    stream.on('end', () => {
      if (tooLarge || finished) return;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      const message = readMessage(body, headers['grpc-encoding'], maxBytes);
      if (typeof message === 'object' && 'code' in message) {
        respondStatus(stream, message.code, message.details);
        finish();
        return;
      }
      if (inFlight >= maxInFlight) {
        const s = toStatus(overloaded('gateway saturated; retry with backoff'));
        respondStatus(stream, s.code, s.details, s.metadata);
        finish();
        return;
      }
      inFlight += 1;
      counted = true;
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
      context
        .with(trace.setSpan(parent, span), () => opts.forwarder.forward(request))
        .then(
          (r) => {
            span.setAttribute('rpc.grpc.status_code', r.ok ? status.OK : r.code);
            if (!r.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: r.details });
            if (r.ok) respondMessage(stream, r.bytes, r.trailers);
            else respondStatus(stream, r.code, r.details, r.trailers);
          },
          (error: unknown) => {
            opts.log.error({ err: error, method }, 'failover loop failed');
            const s = toStatus(error);
            span.setAttribute('rpc.grpc.status_code', s.code);
            span.setStatus({ code: SpanStatusCode.ERROR, message: s.details });
            respondStatus(stream, s.code, s.details, s.metadata);
          },
        )
        .finally(() => {
          span.end();
          finish();
        });
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

  const settings = { maxSessionMemory: Number.MAX_SAFE_INTEGER, maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER };
  const server: Http2Server | Http2SecureServer =
    opts.tls === undefined ? http2.createServer(settings) : http2.createSecureServer({ ...settings, cert: opts.tls.cert, key: opts.tls.key, ALPNProtocols: ['h2'] });
  server.on('stream', onStream);
  server.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session);
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
