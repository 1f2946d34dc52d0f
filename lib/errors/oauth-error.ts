/**
 * RFC 6749 error codes that authmesh answers with. Domain code throws {@link OAuthError};
 * only the wire adapters (gRPC, HTTP) turn it into a status.
 */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'temporarily_unavailable'
  | 'server_error';

/** Why a fault domain could not answer; travels in trailing metadata `authmesh-reason`. */
export type UnavailableReason =
  | 'cache-miss-unfillable'
  | 'backup-not-covered'
  | 'backup-stale'
  | 'overloaded'
  | 'not-ready'
  | 'no-healthy-domain'
  | 'shutting-down'
  | 'fault-injected';

export interface OAuthErrorOptions {
  cause?: unknown;
  /** Set for `temporarily_unavailable`: why, for the gateway and for operators. */
  reason?: UnavailableReason;
  /** For `temporarily_unavailable`: answer RESOURCE_EXHAUSTED instead of UNAVAILABLE. */
  exhausted?: boolean;
}

/**
 * An error that is an answer to the caller. The message is safe to show to the caller: it never
 * contains credential material or echoes caller input beyond identifiers.
 */
export class OAuthError extends Error {
  override readonly name = 'OAuthError';
  readonly code: OAuthErrorCode;
  readonly reason: UnavailableReason | undefined;
  readonly exhausted: boolean;

  constructor(code: OAuthErrorCode, message: string, options: OAuthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.reason = options.reason;
    this.exhausted = options.exhausted ?? false;
  }
}

export const invalidRequest = (message: string, cause?: unknown): OAuthError =>
  new OAuthError('invalid_request', message, { cause });
export const invalidClient = (message: string, cause?: unknown): OAuthError =>
  new OAuthError('invalid_client', message, { cause });
export const unauthorizedClient = (message: string): OAuthError => new OAuthError('unauthorized_client', message);
export const invalidScope = (message: string): OAuthError => new OAuthError('invalid_scope', message);
export const unavailable = (reason: UnavailableReason, message: string, cause?: unknown): OAuthError =>
  new OAuthError('temporarily_unavailable', message, { reason, cause });
export const overloaded = (message: string): OAuthError =>
  new OAuthError('temporarily_unavailable', message, { reason: 'overloaded', exhausted: true });

export function isOAuthError(value: unknown): value is OAuthError {
  return value instanceof OAuthError;
}
