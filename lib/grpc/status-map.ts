import { Metadata, status, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { OAuthError, type OAuthErrorCode } from '../errors/index.js';

/** Trailing metadata key carrying the RFC 6749 error code. */
export const OAUTH_ERROR_KEY = 'oauth-error';
/** Trailing metadata key carrying why a fault domain could not answer. */
export const REASON_KEY = 'authmesh-reason';

export const STATUS_BY_CODE: Readonly<Record<OAuthErrorCode, status>> = Object.freeze({
  invalid_request: status.INVALID_ARGUMENT,
  invalid_scope: status.INVALID_ARGUMENT,
  invalid_grant: status.INVALID_ARGUMENT,
  unsupported_grant_type: status.INVALID_ARGUMENT,
  invalid_client: status.UNAUTHENTICATED,
  unauthorized_client: status.PERMISSION_DENIED,
  temporarily_unavailable: status.UNAVAILABLE,
  server_error: status.INTERNAL,
});

/** The one table from domain errors to the wire. Anything not an OAuthError is a server_error. */
export function toStatus(error: unknown): Partial<StatusObject> & { code: status; details: string; metadata: Metadata } {
  const oauth = error instanceof OAuthError ? error : new OAuthError('server_error', 'internal error');
  const metadata = new Metadata();
  metadata.set(OAUTH_ERROR_KEY, oauth.code);
  if (oauth.reason !== undefined) metadata.set(REASON_KEY, oauth.reason);
  const code = oauth.exhausted ? status.RESOURCE_EXHAUSTED : STATUS_BY_CODE[oauth.code];
  return { code, details: oauth.message, metadata };
}

/** Reads the OAuth error code and reason a peer sent with a failed call. */
export function readErrorTrailers(error: Pick<ServiceError, 'metadata'>): { oauthError?: string; reason?: string } {
  const md = error.metadata;
  if (md === undefined) return {};
  const oauth = md.get(OAUTH_ERROR_KEY)[0];
  const reason = md.get(REASON_KEY)[0];
  return {
    ...(oauth === undefined ? {} : { oauthError: String(oauth) }),
    ...(reason === undefined ? {} : { reason: String(reason) }),
  };
}

/** Status codes that are answers to the caller: never retried elsewhere, never a breaker fault. */
export const CALLER_ERROR_CODES: ReadonlySet<status> = new Set([
  status.INVALID_ARGUMENT,
  status.UNAUTHENTICATED,
  status.PERMISSION_DENIED,
  status.NOT_FOUND,
  status.ALREADY_EXISTS,
  status.FAILED_PRECONDITION,
  status.OUT_OF_RANGE,
]);

/** Status codes on which the gateway moves on to the next fault domain. */
export const RETRYABLE_CODES: ReadonlySet<status> = new Set([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.RESOURCE_EXHAUSTED,
  status.CANCELLED,
  status.INTERNAL,
  status.UNKNOWN,
  status.ABORTED,
]);
