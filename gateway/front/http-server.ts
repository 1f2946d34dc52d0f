/** The HTTPS OAuth 2.0 / OpenID Connect front: routes each request to the token, discovery or JWKS handler. */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { status } from '@grpc/grpc-js';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../lib/log/index.js';
import { CallerGone, type CallerSignal, type Forwarder } from '../routing/forwarder.js';
import type { HttpFrontConfig } from './http-config.js';
import { DISCOVERY_MAX_AGE_SECONDS, discoveryDocument, sendCacheable, serveJwks } from './http-discovery.js';
import { httpError, noteRefusal, sendJson, sendOAuthError, type HttpOAuthError } from './http-errors.js';
import { serveToken } from './http-token.js';
import { traceHttpRequest } from './http-tracing.js';
import { httpsServerOptions, resolveHttpTls } from './http-tls.js';
import { now, RequestMetrics, type CallOutcome, type MethodMetrics } from './request-metrics.js';

/** The HTTP front once it listens. */
export interface RunningHttpFront {
  /** Base URL of the endpoints, e.g. `https://127.0.0.1:50443`. */
  url: string;
  address: string;
  port: number;
  /** The development CA certificate to trust, when the front uses one. */
  caPath?: string;
  close(): Promise<void>;
}

/** Tenant ids as the fault domains accept them. */
const TENANT = '[A-Za-z0-9][A-Za-z0-9._-]{0,127}';
/**
 * Each route with its template as traces name it (`http.route`), and the token method it is
 * answered with (the `method` of the request metrics) when it goes through the failover loop.
 */
const ROUTES: readonly { pattern: RegExp; route: Route; allow: string; allowed: ReadonlySet<string>; template: string; method?: string }[] = [
  { pattern: new RegExp(`^/(${TENANT})/oauth2/v2\\.0/token$`), route: 'token', allow: 'POST', template: '/{tenant}/oauth2/v2.0/token', method: 'AcquireToken' },
  { pattern: new RegExp(`^/(${TENANT})/v2\\.0/\\.well-known/openid-configuration$`), route: 'discovery', allow: 'GET, HEAD', template: '/{tenant}/v2.0/.well-known/openid-configuration' },
  { pattern: new RegExp(`^/(${TENANT})/discovery/v2\\.0/keys$`), route: 'jwks', allow: 'GET, HEAD', template: '/{tenant}/discovery/v2.0/keys', method: 'GetJwks' },
].map((r) => ({ ...r, route: r.route as Route, allowed: new Set(r.allow.split(', ')) }));

/** The route a request path names, and its tenant. */
function matchRoute(url: string): { match: (typeof ROUTES)[number]; tenantId: string } | undefined {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  for (const r of ROUTES) {
    const m = r.pattern.exec(path);
    if (m !== null) return { match: r, tenantId: m[1]! };
  }
  return undefined;
}
type Route = 'token' | 'discovery' | 'jwks';

const FORM = 'application/x-www-form-urlencoded';

class BodyTooLarge extends Error {}

/** Reads the body up to `limit` bytes; rejects with BodyTooLarge past it, without buffering more. */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve((chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)).toString('utf8')));
    req.once('error', reject);
  });
}

/** `application/x-www-form-urlencoded`, optionally with `charset=utf-8`, and nothing else. */
export function isFormContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  if (header === FORM) return true;
  const [type, ...params] = header.split(';').map((p) => p.trim().toLowerCase());
  if (type !== FORM) return false;
  return params.every((p) => p === '' || /^charset="?utf-8"?$/.test(p));
}

/** Options of {@link startHttpFront}. */
export interface HttpFrontDeps {
  failover: Forwarder;
  log: Logger;
  /** Request counts and durations, shared with the gateway's other fronts; default one of its own. */
  requestMetrics?: RequestMetrics;
}

/**
 * The OAuth 2.0 / OpenID Connect front of the gateway over HTTPS (plain HTTP only by opt-in):
 * token endpoint, discovery and JWK Set, all through the gateway's one failover loop.
 */
export async function startHttpFront(config: HttpFrontConfig, deps: HttpFrontDeps): Promise<RunningHttpFront> {
  const tls = resolveHttpTls(config);
  let publicUrl = config.publicUrl ?? '';
  const requestMetrics = deps.requestMetrics ?? new RequestMetrics();
  const recorders = new Map<string, MethodMetrics>();
  for (const r of ROUTES) if (r.method !== undefined) recorders.set(r.route, requestMetrics.method(r.method));
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = now();
    const gone = new CallerGone();
    const matched = matchRoute(req.url ?? '/');
    const recorder = matched === undefined ? undefined : recorders.get(matched.match.route);
    const outcome: CallOutcome | undefined = recorder === undefined ? undefined : { code: 0, oauthError: '', faultDomain: '' };
    res.once('close', () => {
      const complete = res.writableFinished;
      if (!complete) gone.abort();
      if (outcome !== undefined) recorder!.record(started, complete ? outcome.code : status.CANCELLED, outcome.oauthError, outcome.faultDomain);
    });
    traceHttpRequest(req, res, matched?.match.template, () =>
      dispatch(req, res, matched, { config, publicUrl, failover: deps.failover, log: deps.log, signal: gone, outcome }),
    ).catch((err: unknown) => {
      deps.log.error({ err, path: req.url?.split('?')[0] }, 'http request failed');
      if (!res.headersSent) refuse(res, outcome, httpError('server_error', 'internal error'));
      else res.destroy();
    });
  };
  const server = tls === undefined ? http.createServer(handle) : https.createServer(httpsServerOptions(tls), handle);
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  const sep = config.listen.lastIndexOf(':');
  const host = config.listen.slice(0, sep).replace(/^\[(.*)\]$/, '$1');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(config.listen.slice(sep + 1)), host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  const address = `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  if (publicUrl === '') publicUrl = `${tls === undefined ? 'http' : 'https'}://${address}`;
  return {
    url: publicUrl,
    address,
    port: bound.port,
    ...(tls?.caPath === undefined ? {} : { caPath: tls.caPath }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

interface RequestContext {
  config: HttpFrontConfig;
  publicUrl: string;
  failover: Forwarder;
  log: Logger;
  signal: CallerSignal;
  /** What the caller is answered, for the request metrics (token and JWK Set routes). */
  outcome: CallOutcome | undefined;
}

/** Sends an error the front decided itself, noting it on the call's outcome. */
function refuse(res: ServerResponse, outcome: CallOutcome | undefined, e: HttpOAuthError, headers?: Record<string, string>): void {
  noteRefusal(outcome, e);
  sendOAuthError(res, e, headers);
}

async function dispatch(req: IncomingMessage, res: ServerResponse, matched: ReturnType<typeof matchRoute>, ctx: RequestContext): Promise<void> {
  if (matched === undefined) {
    sendJson(res, 404, { error: 'not_found', error_description: 'no such endpoint' });
    return;
  }
  const { match, tenantId } = matched;
  if (!match.allowed.has(req.method ?? '')) {
    const e = httpError('invalid_request', `method not allowed; use ${match.allow}`);
    refuse(res, ctx.outcome, { ...e, status: 405 }, { allow: match.allow });
    return;
  }
  switch (match.route) {
    case 'discovery':
      sendCacheable(req, res, discoveryDocument(ctx.config.issuer, ctx.publicUrl, tenantId), DISCOVERY_MAX_AGE_SECONDS);
      return;
    case 'jwks':
      await serveJwks(req, res, tenantId, ctx);
      return;
    case 'token':
      await token(req, res, tenantId, ctx);
  }
}

async function token(req: IncomingMessage, res: ServerResponse, tenantId: string, ctx: RequestContext): Promise<void> {
  // RFC 6749 section 3.2: parameters go in the body; a query string could leak a secret to logs.
  if (req.url?.includes('?') === true) {
    refuse(res, ctx.outcome, httpError('invalid_request', 'the token endpoint takes no query parameters'));
    return;
  }
  if (!isFormContentType(req.headers['content-type'])) {
    refuse(res, ctx.outcome, { ...httpError('invalid_request', `the body must be ${FORM}`), status: 415 }, { accept: FORM });
    return;
  }
  let body: string;
  try {
    body = await readBody(req, ctx.config.maxBodyBytes);
  } catch (err) {
    if (!(err instanceof BodyTooLarge)) throw err;
    refuse(res, ctx.outcome, { ...httpError('invalid_request', `the body is larger than ${ctx.config.maxBodyBytes} bytes`), status: 413 }, { connection: 'close' });
    // Discard the rest of the upload so the client reads the answer, and cut it off soon after.
    req.resume();
    res.once('finish', () => setTimeout(() => req.destroy(), 1000).unref());
    return;
  }
  await serveToken(req, res, tenantId, body, ctx);
}
