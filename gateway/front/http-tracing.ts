/** Server spans of the HTTPS front, named and attributed as the HTTP semantic conventions say. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, propagation, SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import { tracingActive } from '../../lib/telemetry/tracing-active.js';

const TRACER = 'authmesh-gateway';

/**
 * Runs one HTTP request of the gateway's HTTPS front inside an OpenTelemetry server span, as the
 * HTTP semantic conventions name it:
 *
 * - span name `{method} {route}` with the tenant templated (`POST /{tenant}/oauth2/v2.0/token`),
 *   or `{method}` alone for a path that matches no route;
 * - `http.request.method`, `url.path`, `url.scheme`, `http.route`, `client.address`,
 *   `client.port`, `server.port`, `network.protocol.version`, `user_agent.original` at the start,
 *   `http.response.status_code` at the end (status ERROR from 500 on);
 * - the caller's W3C `traceparent` / `tracestate` honoured as the parent;
 * - the handler runs in the span's context, so the failover loop's `authmesh.attempt` spans are
 *   its children and it carries the `authmesh.route.*` attributes as the gRPC front's span does.
 *
 * With no SDK registered (no tracer provider, no propagator) the handler runs as it is.
 */
export function traceHttpRequest(req: IncomingMessage, res: ServerResponse, route: string | undefined, handler: () => Promise<void>): Promise<void> {
  if (!tracingActive(TRACER)) return handler();
  const method = req.method ?? 'GET';
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const attributes: Attributes = {
    'http.request.method': method,
    'url.path': q === -1 ? url : url.slice(0, q),
    'url.scheme': 'encrypted' in req.socket ? 'https' : 'http',
    'network.protocol.version': req.httpVersion,
  };
  if (route !== undefined) attributes['http.route'] = route;
  if (req.socket.remoteAddress !== undefined) attributes['client.address'] = req.socket.remoteAddress;
  if (req.socket.remotePort !== undefined) attributes['client.port'] = req.socket.remotePort;
  if (req.socket.localPort !== undefined) attributes['server.port'] = req.socket.localPort;
  const agent = req.headers['user-agent'];
  if (agent !== undefined) attributes['user_agent.original'] = agent;

  const parent = propagation.extract(context.active(), req.headers);
  const span = trace.getTracer(TRACER).startSpan(route === undefined ? method : `${method} ${route}`, { kind: SpanKind.SERVER, attributes }, parent);
  let ended = false;
  const end = (): void => {
    if (ended) return;
    ended = true;
    if (res.headersSent) {
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    } else {
      // The caller went away before an answer was written.
      span.setAttribute('error.type', 'aborted');
    }
    span.end();
  };
  res.once('finish', end);
  res.once('close', end);
  return context.with(trace.setSpan(parent, span), handler);
}
