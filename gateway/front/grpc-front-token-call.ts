/** The public front's TokenService calls: admission, request body, forwarding and the answer, step by step. */
import type { IncomingHttpHeaders } from 'node:http2';
import { type Metadata, status } from '@grpc/grpc-js';
import { context, propagation, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import { overloaded } from '../../lib/errors/index.js';
import { toStatus } from '../../lib/grpc/index.js';
import { parseGrpcTimeout, readMessage } from '../../lib/grpc/framing.js';
import type { ServerStream } from '../../lib/http2/server-stream.js';
import type { Logger } from '../../lib/log/index.js';
import { CallerGone, type Forwarder, type ForwardRequest, type ForwardResult, type InFlightLimit } from '../routing/forwarder.js';
import { badRequest, forwardableMetadata, respondMessage, respondStatus, TOKEN_PATHS, type FrontMethod } from './grpc-front-wire.js';
import { now, oauthErrorOf, type MethodMetrics, type RequestMetrics } from './request-metrics.js';
import type { FrontLimits } from './grpc-front-limits.js';
import { NO_SPAN, tracingActive } from '../../lib/telemetry/tracing-active.js';

const TRACER = 'authmesh-gateway';

/** What the token calls of one front are given. */
export interface TokenCallsOptions {
  forwarder: Forwarder;
  log: Logger;
  limit: InFlightLimit;
  maxBytes: number;
  limits: FrontLimits;
  requestMetrics: RequestMetrics;
}

/** The token calls of one front and what they share: the in-flight count, buffered bytes, and draining. */
export class TokenCalls {
  /** Request bytes held for token calls whose body has not ended yet. */
  buffered = 0;
  inFlight = 0;
  draining = false;
  /** Called when the last call in flight ends while draining. */
  idle: (() => void) | undefined;
  readonly tracer: Tracer = trace.getTracer(TRACER);
  private readonly recorders: Map<FrontMethod, MethodMetrics>;

  constructor(readonly options: TokenCallsOptions) {
    this.recorders = new Map([...TOKEN_PATHS.values()].map((m) => [m, options.requestMetrics.method(m.wireName)]));
  }

  /** Takes one token call: refused while draining, for a wrong content type or past the in-flight limit; read and forwarded otherwise. */
  answer(stream: ServerStream, target: FrontMethod): void {
    const headers = stream.headers;
    const recorder = this.recorders.get(target)!;
    const started = now();
    if (this.draining) {
      recorder.record(started, status.UNAVAILABLE, '', '');
      return respondStatus(stream, status.UNAVAILABLE, 'gateway shutting down');
    }
    const contentType = headers['content-type'];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) {
      stream.respond([':status', '415'], true);
      if (!stream.remoteEnded) stream.close();
      return;
    }
    const received = Date.now();
    // A call holds a slot from its headers on, partial body included: the body timeout bounds how
    // long a caller that never finishes its request can hold it.
    if (!this.options.limit.tryEnter()) {
      const s = toStatus(overloaded('gateway saturated; retry with backoff'));
      recorder.record(started, s.code, oauthErrorOf(s.metadata), '');
      return respondStatus(stream, s.code, s.details, s.metadata);
    }
    this.inFlight += 1;
    new TokenCall(this, stream, headers, target, recorder, started, received).listen();
  }

  /** A call ended: its slot is free again. */
  left(): void {
    this.options.limit.leave();
    this.inFlight -= 1;
    if (this.draining && this.inFlight === 0) this.idle?.();
  }
}

/** One admitted token call, from its request body to its answer. */
class TokenCall {
  private readonly gone = new CallerGone();
  private finished = false;
  private recorded = false;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private rejected = false;
  private bodyTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly calls: TokenCalls,
    private readonly stream: ServerStream,
    private readonly headers: IncomingHttpHeaders,
    private readonly target: FrontMethod,
    private readonly recorder: MethodMetrics,
    private readonly started: number,
    private readonly received: number,
  ) {}

  /** Starts the body timer and reads the request as it comes. */
  listen(): void {
    const limits = this.calls.options.limits;
    this.bodyTimer = setTimeout(() => this.reject(status.DEADLINE_EXCEEDED, `request body not received within ${limits.requestBodyTimeoutMs} ms`), limits.requestBodyTimeoutMs);
    this.bodyTimer.unref();
    this.stream.onclose = () => {
      // A stream closes when our answer ends it too: only a close before that is the caller going away.
      if (!this.finished && !this.stream.writableEnded) this.gone.abort();
      this.finish();
    };
    this.stream.ondata = (chunk: Buffer) => this.take(chunk);
    this.stream.onend = () => this.bodyEnded();
  }

  /** Counts the call once, with what the caller is sent. */
  private record(code: number, trailers: Metadata | undefined, domain: string | undefined): void {
    if (this.recorded) return;
    this.recorded = true;
    this.recorder.record(this.started, code, oauthErrorOf(trailers), domain ?? '');
  }

  private release(): void {
    this.calls.buffered -= this.size;
    this.size = 0;
    this.chunks.length = 0;
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    // A call that ends with nothing sent is one the caller cancelled.
    this.record(status.CANCELLED, undefined, undefined);
    clearTimeout(this.bodyTimer);
    this.release();
    this.calls.left();
  }

  private reject(code: status, details: string, metadata?: Metadata): void {
    this.rejected = true;
    this.record(code, metadata, undefined);
    respondStatus(this.stream, code, details, metadata);
    this.finish();
    // The rest of the body is not read: the stream is reset once the answer is out.
    if (!this.stream.remoteEnded) this.stream.close();
  }

  /** Buffers a chunk of the request body, within the call's and the front's byte limits. */
  private take(chunk: Buffer): void {
    if (this.rejected || this.finished) return;
    const { maxBytes, limits } = this.calls.options;
    if (this.size + chunk.length > maxBytes + 5) return this.reject(status.RESOURCE_EXHAUSTED, `request larger than ${maxBytes} bytes`);
    if (this.calls.buffered + chunk.length > limits.maxBufferedBytes) {
      const s = toStatus(overloaded('gateway holds too many unfinished requests; retry with backoff'));
      return this.reject(s.code, s.details, s.metadata);
    }
    this.size += chunk.length;
    this.calls.buffered += chunk.length;
    this.chunks.push(chunk);
  }

  /** The whole request is in: checked, then forwarded. */
  private bodyEnded(): void {
    if (this.rejected || this.finished) return;
    clearTimeout(this.bodyTimer);
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    this.release();
    const message = readMessage(body, this.headers['grpc-encoding'], this.calls.options.maxBytes);
    if (typeof message === 'object' && 'code' in message) return this.refuse(badRequest(message.code, message.details));
    // Keeps bytes no domain could read off the failover loop altogether.
    if (!this.target.decodes(message)) return this.refuse(badRequest(status.INVALID_ARGUMENT, 'request is not a valid protobuf message for this method'));
    this.forward(message);
  }

  /** Answers a request that is not one with the caller's error. */
  private refuse(s: ReturnType<typeof badRequest>): void {
    this.record(s.code, s.metadata, undefined);
    respondStatus(this.stream, s.code, s.details, s.metadata);
    this.finish();
  }

  /** Hands the request to the forwarder inside the call's server span. */
  private forward(message: Buffer): void {
    const metadata = forwardableMetadata(this.headers);
    const deadline = parseGrpcTimeout(this.headers['grpc-timeout'], this.received);
    const request: ForwardRequest = { method: this.target.method, bytes: message, signal: this.gone, metadata, deadline };
    // One promise reaction per call: each handler ends the span and the call itself.
    if (!tracingActive(TRACER)) {
      // Telemetry off: no span or context that would go nowhere.
      this.calls.options.forwarder.forward(request).then(
        (r) => this.answered(NO_SPAN, r),
        (error: unknown) => this.failed(NO_SPAN, error),
      );
      return;
    }
    const parent = propagation.extract(context.active(), this.headers);
    const span = this.calls.tracer.startSpan(this.target.spanName, { kind: SpanKind.SERVER, attributes: this.target.attributes }, parent);
    context.with(trace.setSpan(parent, span), () => this.calls.options.forwarder.forward(request)).then(
      (r) => this.answered(span, r),
      (error: unknown) => this.failed(span, error),
    );
  }

  /** Sends what the forwarder answered. */
  private answered(span: Span, r: ForwardResult): void {
    try {
      span.setAttribute('rpc.grpc.status_code', r.ok ? status.OK : r.code);
      if (!this.stream.destroyed) this.record(r.ok ? status.OK : r.code, r.ok ? undefined : r.trailers, r.domain);
      if (!r.ok) span.setStatus({ code: SpanStatusCode.ERROR, message: r.details });
      if (r.ok) respondMessage(this.stream, r.bytes, r.trailers);
      else respondStatus(this.stream, r.code, r.details, r.trailers);
    } finally {
      span.end();
      this.finish();
    }
  }

  /** The forwarder threw: logged, and the caller gets the error's status. */
  private failed(span: Span, error: unknown): void {
    try {
      this.calls.options.log.error({ err: error, method: this.target.method }, 'failover loop failed');
      const s = toStatus(error);
      span.setAttribute('rpc.grpc.status_code', s.code);
      this.record(s.code, s.metadata, undefined);
      span.setStatus({ code: SpanStatusCode.ERROR, message: s.details });
      respondStatus(this.stream, s.code, s.details, s.metadata);
    } finally {
      span.end();
      this.finish();
    }
  }
}
