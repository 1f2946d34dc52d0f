/** The CLIENT span of a call from the gateway to a domain, shared by the transports. */
import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { status } from '@grpc/grpc-js';
import type { BackendError } from '../routing/token-backend.js';
import { methodPath, TOKEN_METHODS, TOKEN_SERVICE_NAME, wireMethodName, type TokenMethod } from '../pass-through.js';
import { NO_SPAN, tracingActive } from '../../lib/telemetry/tracing-active.js';

const TRACER = 'authmesh-gateway';
const tracer = trace.getTracer(TRACER);

/** `server.address` and `server.port` of `host:port` (`[v6]:port` too). */
export function serverAttributes(address: string): { 'server.address': string; 'server.port'?: number } {
  const at = address.lastIndexOf(':');
  const host = (at < 0 ? address : address.slice(0, at)).replace(/^\[(.*)\]$/, '$1');
  const port = at < 0 ? NaN : Number(address.slice(at + 1));
  return Number.isInteger(port) ? { 'server.address': host, 'server.port': port } : { 'server.address': host };
}

/** One call to a domain in progress: its span, and the context to inject into the outgoing call. */
export interface DomainCallSpan {
  readonly span: Span;
  /** The call's span as the active one; the caller's context when the span records nothing. */
  readonly context: Context;
}

/**
 * The CLIENT spans of the gateway's calls to one domain over node:http2 (a call of its own or a
 * relayed one), named and attributed as the grpc-js instrumentation names its own:
 * `grpc.<service>/<method>` with rpc.system, rpc.service, rpc.method, server.address and
 * server.port. The attributes are built once per domain; an unsampled call gets the SDK's
 * non-recording span and the caller's context, so it costs no more than that.
 */
export class DomainCallSpans {
  private readonly starts: Readonly<Record<TokenMethod, { name: string; options: { kind: SpanKind; attributes: Attributes } }>>;

  constructor(address: string, extra: Attributes = {}) {
    const server = serverAttributes(address);
    const start = (method: TokenMethod): { name: string; options: { kind: SpanKind; attributes: Attributes } } => ({
      name: `grpc.${methodPath(method).slice(1)}`,
      options: {
        kind: SpanKind.CLIENT,
        attributes: { 'rpc.system': 'grpc', 'rpc.service': TOKEN_SERVICE_NAME, 'rpc.method': wireMethodName(method), ...server, ...extra },
      },
    });
    this.starts = Object.fromEntries(TOKEN_METHODS.map((m) => [m, start(m)])) as Record<TokenMethod, ReturnType<typeof start>>;
  }

  /** Starts the span of one call, child of the active context (the gateway's attempt span). */
  start(method: TokenMethod): DomainCallSpan {
    const parent = context.active();
    if (!tracingActive(TRACER)) return { span: NO_SPAN, context: parent };
    const { name, options } = this.starts[method];
    const span = tracer.startSpan(name, options, parent);
    return { span, context: span.isRecording() ? trace.setSpan(parent, span) : parent };
  }
}

/** Ends a call's span with the gRPC status it ended with. */
export function endDomainCallSpan(span: Span, error?: BackendError): void {
  if (span.isRecording()) {
    const code = error?.code ?? status.OK;
    span.setAttribute('rpc.grpc.status_code', code);
    if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error.details });
  }
  span.end();
}
