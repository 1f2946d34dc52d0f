/** The relay transport's HTTP/2 connections to a domain, and the calls of their own it makes on them. */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { Metadata, status } from '@grpc/grpc-js';
import { propagation, type Context } from '@opentelemetry/api';
import { DomainCallSpans, endDomainCallSpan } from './domain-call-span.js';
import { meshPeerCheck, type MeshTls } from '../../lib/grpc/mesh-tls.js';
import { backendError, bearerSource, cancelledByCaller, type BearerToken, type BackendCallOptions, type BackendError, type BackendReply, type TokenBackend } from '../routing/token-backend.js';
import { PassThroughTokenService, type TokenMethod } from '../pass-through.js';
import { decodeStatusMessage, frame, readMessage } from '../../lib/grpc/framing.js';

/** Options of the relay transport ({@link DirectCalls} shares them). */
export interface RelayBackendOptions {
  /** Separate HTTP/2 connections to the domain, used round robin. Default 1. */
  channels?: number;
  /** Sent as `authorization: Bearer <token>` on every call (the backup domain requires the mesh token). */
  bearerToken?: BearerToken;
  /** Mutual TLS inside the mesh; plaintext (h2c) when undefined. */
  tls?: MeshTls;
  /** After a failed connect, calls fail fast for this long before the next try (doubling up to maxBackoffMs). Default 100. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

const GRPC_HEADERS_OMITTED = new Set(['grpc-status', 'grpc-message', 'content-type', 'grpc-encoding', 'grpc-accept-encoding', 'date']);

/** One HTTP/2 connection to the domain, opened on demand and dropped when it fails. */
export class Connection {
  private session: ClientHttp2Session | undefined;
  private failedUntil = 0;
  private backoffMs: number;

  constructor(
    private readonly authority: string,
    private readonly tls: MeshTls | undefined,
    private readonly initialBackoffMs: number,
    private readonly maxBackoffMs: number,
  ) {
    this.backoffMs = initialBackoffMs;
  }

  /** The open session, a new one, or undefined while a failed connect backs off. */
  get(): ClientHttp2Session | undefined {
    if (this.session !== undefined && !this.session.closed && !this.session.destroyed) return this.session;
    if (Date.now() < this.failedUntil) return undefined;
    const session = http2.connect(
      this.authority,
      this.tls === undefined
        ? {}
        : {
            ca: this.tls.ca, cert: this.tls.cert, key: this.tls.key, ALPNProtocols: ['h2'],
            ...(this.tls.expectPeer === undefined ? {} : { checkServerIdentity: meshPeerCheck(this.tls.expectPeer) }),
          },
    );
    let connected = false;
    session.once('connect', () => {
      connected = true;
      this.backoffMs = this.initialBackoffMs;
    });
    const drop = (): void => {
      if (this.session === session) this.session = undefined;
    };
    session.on('error', () => {
      drop();
      if (connected) return;
      // The connect failed: fail fast for a jittered, growing while instead of redialling per call.
      this.failedUntil = Date.now() + this.backoffMs * (0.8 + Math.random() * 0.4);
      this.backoffMs = Math.min(this.maxBackoffMs, this.backoffMs * 2);
    });
    session.once('close', drop);
    session.once('goaway', drop);
    // A lone idle connection must not keep the gateway process alive at shutdown.
    session.unref();
    this.session = session;
    return session;
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}

/**
 * The relay's calls of their own, for a domain without the relay and for requests too large to
 * relay: gRPC's HTTP/2 framing spoken directly, the request bytes going out in one
 * length-prefixed DATA frame and the reply comes back as bytes plus trailers, with none of the
 * per-call layers of a general gRPC client (interceptors, resolver, retry and load-balancing
 * calls). The gateway only forwards unary token calls it never decodes, so this is all it needs.
 * Connections reconnect on demand with a jittered backoff. Each call has a CLIENT span (see
 * {@link DomainCallSpans}) whose context is injected into the request headers, so the domain's
 * server span is its child.
 */
export class DirectCalls implements TokenBackend {
  /** The connections to the domain, used round robin (the relay transport carries its streams on them too). */
  readonly connections: readonly Connection[];
  private next = 0;
  private readonly bearerToken: () => string | undefined;
  private readonly spans: DomainCallSpans;

  constructor(
    readonly name: string,
    readonly address: string,
    options: RelayBackendOptions = {},
  ) {
    this.bearerToken = bearerSource(options.bearerToken);
    this.spans = new DomainCallSpans(address);
    const authority = `${options.tls === undefined ? 'http' : 'https'}://${address}`;
    const n = Math.max(1, options.channels ?? 1);
    this.connections = Array.from(
      { length: n },
      () => new Connection(authority, options.tls, options.initialBackoffMs ?? 100, options.maxBackoffMs ?? 2000),
    );
  }

  call(method: TokenMethod, requestBytes: Buffer, options: BackendCallOptions): Promise<BackendReply> {
    return new Promise<BackendReply>((resolveCall, rejectCall) => {
      if (options.signal?.aborted === true) {
        rejectCall(cancelledByCaller());
        return;
      }
      const { span, context: callContext } = this.spans.start(method);
      const recording = span.isRecording();
      const resolve = recording
        ? (r: BackendReply): void => {
            endDomainCallSpan(span);
            resolveCall(r);
          }
        : resolveCall;
      const reject = recording
        ? (e: BackendError): void => {
            endDomainCallSpan(span, e);
            rejectCall(e);
          }
        : rejectCall;
      const timeoutMs = Math.max(1, Math.ceil(options.deadline - Date.now()));
      const session = this.connections[this.next]!.get();
      this.next = (this.next + 1) % this.connections.length;
      if (session === undefined) {
        reject(backendError(status.UNAVAILABLE, `${this.name}: no connection (reconnecting after a failed connect)`));
        return;
      }
      let stream: ClientHttp2Stream;
      try {
        stream = session.request(this.headers(method, timeoutMs, options, callContext));
      } catch (err) {
        reject(backendError(status.UNAVAILABLE, `${this.name}: ${(err as Error).message}`));
        return;
      }
      const chunks: Buffer[] = [];
      let responseHeaders: IncomingHttpHeaders | undefined;
      let trailers: IncomingHttpHeaders | undefined;
      let settled = false;
      const settle = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        settle(() => reject(backendError(status.DEADLINE_EXCEEDED, `${this.name}: no answer within ${timeoutMs} ms`)));
      }, timeoutMs);
      const onAbort = (): void => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        settle(() => reject(cancelledByCaller()));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      stream.on('response', (h) => {
        responseHeaders = h;
      });
      stream.on('trailers', (t) => {
        trailers = t;
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (err: Error) => settle(() => reject(backendError(status.UNAVAILABLE, `${this.name}: ${err.message}`))));
      stream.on('close', () => settle(() => this.finish(responseHeaders, trailers, chunks, stream.rstCode, resolve, reject)));
      stream.end(frame(requestBytes));
    });
  }

  private headers(method: TokenMethod, timeoutMs: number, options: BackendCallOptions, callContext: Context): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': PassThroughTokenService[method].path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${Math.min(timeoutMs, 99_999_999)}m`,
    };
    if (options.metadata !== undefined) {
      for (const [key, value] of Object.entries(options.metadata.toHttp2Headers())) headers[key] = value;
    }
    const bearer = this.bearerToken();
    if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
    propagation.inject(callContext, headers);
    return headers;
  }

  /** Turns the HTTP/2 response into the reply or the gRPC status it carries. */
  private finish(
    responseHeaders: IncomingHttpHeaders | undefined,
    trailers: IncomingHttpHeaders | undefined,
    chunks: Buffer[],
    rstCode: number,
    resolve: (r: BackendReply) => void,
    reject: (e: BackendError) => void,
  ): void {
    // A reply without a body puts grpc-status in the headers ("trailers-only").
    const statusHeaders = trailers ?? responseHeaders;
    const code = Number(statusHeaders?.['grpc-status']);
    if (statusHeaders === undefined || !Number.isInteger(code)) {
      const http = responseHeaders?.[':status'];
      reject(backendError(status.UNAVAILABLE, `${this.name}: stream ended without a gRPC status${http === undefined ? ` (rst ${rstCode})` : ` (HTTP ${String(http)})`}`));
      return;
    }
    const metadata = toMetadata(statusHeaders);
    if (code !== status.OK) {
      reject(backendError(code, decodeStatusMessage(statusHeaders['grpc-message']), metadata));
      return;
    }
    const message = readMessage(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), undefined, Infinity);
    if (!Buffer.isBuffer(message)) {
      reject(backendError(status.INTERNAL, `${this.name}: malformed response message`));
      return;
    }
    resolve({ bytes: message, trailers: metadata });
  }

  close(): void {
    for (const c of this.connections) c.close();
  }
}

/** Custom metadata of a response (trailers), without the transport's own headers. */
function toMetadata(headers: IncomingHttpHeaders): Metadata {
  const md = Metadata.fromHttp2Headers(headers);
  for (const key of GRPC_HEADERS_OMITTED) md.remove(key);
  return md;
}
