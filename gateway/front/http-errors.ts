/** OAuth 2.0 error answers of the HTTPS front, and the mapping from gRPC statuses to them. */
import type { ServerResponse } from 'node:http';
import { status } from '@grpc/grpc-js';
import type { OAuthErrorCode } from '../../lib/errors/index.js';
import { OAUTH_ERROR_KEY, STATUS_BY_CODE } from '../../lib/grpc/index.js';
import type { ForwardResult } from '../routing/forwarder.js';
import type { CallOutcome } from './request-metrics.js';

/** Realm of the Basic scheme named in `WWW-Authenticate` (RFC 7617). */
export const BASIC_REALM = 'authmesh';

/**
 * An RFC 6749 section 5.2 error as it goes on the wire. `description` is written by the gateway
 * or by a fault domain, never copied from the request.
 */
export interface HttpOAuthError {
  status: number;
  error: OAuthErrorCode;
  description: string;
  /** Seconds for `Retry-After` (503 only). */
  retryAfter?: number;
}

const HTTP_STATUS: Readonly<Record<OAuthErrorCode, number>> = Object.freeze({
  invalid_request: 400,
  invalid_grant: 400,
  invalid_scope: 400,
  unsupported_grant_type: 400,
  // RFC 6749 has no 403: a client that may not use the grant is told so with a 400.
  unauthorized_client: 400,
  invalid_client: 401,
  temporarily_unavailable: 503,
  server_error: 500,
});

const CODES = new Set(Object.keys(HTTP_STATUS));

/** Seconds a client should wait before retrying when no fault domain could answer. */
export const RETRY_AFTER_SECONDS = 1;

/** Builds the wire error for an OAuth error code; 503s carry `Retry-After`. */
export function httpError(error: OAuthErrorCode, description: string): HttpOAuthError {
  return { status: HTTP_STATUS[error], error, description, ...(error === 'temporarily_unavailable' ? { retryAfter: RETRY_AFTER_SECONDS } : {}) };
}

function codeFromStatus(code: status): OAuthErrorCode {
  switch (code) {
    case status.INVALID_ARGUMENT:
    case status.NOT_FOUND:
    case status.FAILED_PRECONDITION:
    case status.OUT_OF_RANGE:
      return 'invalid_request';
    case status.UNAUTHENTICATED:
      return 'invalid_client';
    case status.PERMISSION_DENIED:
      return 'unauthorized_client';
    case status.UNAVAILABLE:
    case status.DEADLINE_EXCEEDED:
    case status.RESOURCE_EXHAUSTED:
    case status.CANCELLED:
      return 'temporarily_unavailable';
    default:
      return 'server_error';
  }
}

/**
 * The HTTP form of a call the failover loop could not complete: the OAuth code from the
 * `oauth-error` trailer (the gRPC status when a peer sent none). Caller errors keep the domain's
 * message, which by contract names fields and never echoes their values; faults get a generic
 * one, since their details name internal addresses.
 */
export function errorFromForward(r: Extract<ForwardResult, { ok: false }>): HttpOAuthError {
  const trailer = r.trailers.get(OAUTH_ERROR_KEY)[0]?.toString();
  const code = trailer !== undefined && CODES.has(trailer) ? (trailer as OAuthErrorCode) : codeFromStatus(r.code);
  if (code === 'temporarily_unavailable') return httpError(code, 'the service is temporarily unavailable; retry later');
  if (code === 'server_error') return httpError(code, 'internal error');
  return httpError(code, r.details);
}

/** Headers every OAuth response carries (RFC 6749 section 5.1). */
export const NO_STORE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'cache-control': 'no-store',
  pragma: 'no-cache',
});

/** Notes an error sent by the front itself (no fault domain answered it) on the call's outcome. */
export function noteRefusal(outcome: CallOutcome | undefined, e: HttpOAuthError): void {
  if (outcome === undefined) return;
  outcome.code = e.status === 502 ? status.INTERNAL : STATUS_BY_CODE[e.error];
  outcome.oauthError = e.error;
}

/** Notes a failed forward on the call's outcome: the domains' status and the OAuth error sent. */
export function noteForwardFailure(outcome: CallOutcome | undefined, r: Extract<ForwardResult, { ok: false }>, e: HttpOAuthError): void {
  if (outcome === undefined) return;
  outcome.code = r.code;
  outcome.oauthError = e.error;
  outcome.faultDomain = r.domain ?? '';
}

/** The content type of every JSON answer. */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

const isFlat = (headers: Readonly<Record<string, string>> | readonly string[]): headers is readonly string[] => Array.isArray(headers);

/**
 * Writes a JSON body with the given status and headers: an object whose fields replace the base
 * ones, or a flat list (`[name, value, ...]`) of headers the base ones do not carry, given to
 * `writeHead` as it is (no header object to build and walk, for the token answer).
 */
export function sendJson(res: ServerResponse, statusCode: number, body: unknown, headers: Readonly<Record<string, string>> | readonly string[] = {}): void {
  const text = JSON.stringify(body);
  const length = String(Buffer.byteLength(text));
  if (isFlat(headers)) {
    res.writeHead(statusCode, ['content-type', JSON_CONTENT_TYPE, 'content-length', length, 'x-content-type-options', 'nosniff', ...headers]);
  } else {
    res.writeHead(statusCode, { 'content-type': JSON_CONTENT_TYPE, 'content-length': length, 'x-content-type-options': 'nosniff', ...headers });
  }
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/**
 * Writes an RFC 6749 section 5.2 error. `invalid_client` is a 401 with `WWW-Authenticate`
 * naming the Basic scheme (RFC 7235 requires the header on every 401, and Basic is the one
 * HTTP authentication scheme the token endpoint takes).
 */
export function sendOAuthError(res: ServerResponse, e: HttpOAuthError, headers: Record<string, string> = {}): void {
  const extra: Record<string, string> = { ...NO_STORE_HEADERS, ...headers };
  if (e.status === 401) extra['www-authenticate'] = `Basic realm="${BASIC_REALM}", charset="UTF-8"`;
  if (e.retryAfter !== undefined) extra['retry-after'] = String(e.retryAfter);
  sendJson(res, e.status, { error: e.error, error_description: e.description }, extra);
}
