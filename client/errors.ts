/** Why getToken failed; a literal union so callers can switch on it. */
export type ClientErrorCode =
  /** No valid token is cached and no endpoint could answer (or the deadline passed). */
  | 'ERR_MESH_UNAVAILABLE'
  /** The mesh answered and refused the request (bad credential, no role, unknown scope). */
  | 'ERR_TOKEN_REFUSED'
  /** The caller's signal aborted the wait. */
  | 'ERR_ABORTED'
  /** The credential given to the constructor is unusable (e.g. an unsupported key type). */
  | 'ERR_INVALID_CREDENTIAL'
  /** The scope asked for is not one `<resource>/.default` (empty, or several at once). */
  | 'ERR_INVALID_SCOPE';

/** Base of every error the client SDK throws; `cause` carries the underlying failure. */
export class AuthmeshClientError extends Error {
  override name = 'AuthmeshClientError';
  readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** One failed attempt on one endpoint. */
export interface EndpointAttempt {
  endpoint: string;
  /** gRPC status code name, e.g. `UNAVAILABLE`. */
  status: string;
  details: string;
}

/** No cached token is valid and no endpoint could issue one. Retrying later may succeed. */
export class MeshUnavailableError extends AuthmeshClientError {
  override name = 'MeshUnavailableError';
  /** Every endpoint tried, in order. */
  readonly attempts: readonly EndpointAttempt[];

  constructor(message: string, attempts: readonly EndpointAttempt[] = [], cause?: unknown) {
    super('ERR_MESH_UNAVAILABLE', message, { cause });
    this.attempts = attempts;
  }
}

/** The mesh refused the request; retrying with the same credential and scope will not help. */
export class TokenRefusedError extends AuthmeshClientError {
  override name = 'TokenRefusedError';
  /** The RFC 6749 error code the mesh sent (`invalid_client`, `unauthorized_client`, ...). */
  readonly oauthError: string;
  /** gRPC status code name. */
  readonly status: string;

  constructor(message: string, oauthError: string, status: string, cause?: unknown) {
    super('ERR_TOKEN_REFUSED', message, { cause });
    this.oauthError = oauthError;
    this.status = status;
  }
}

/** The wait was aborted by the caller's signal. The shared request, if any, carries on. */
export class TokenRequestAbortedError extends AuthmeshClientError {
  override name = 'TokenRequestAbortedError';

  constructor(cause?: unknown) {
    super('ERR_ABORTED', 'getToken aborted by the caller', { cause });
  }
}
