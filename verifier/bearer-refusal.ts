import { status } from '@grpc/grpc-js';
import { VerifierError } from './errors.js';

/** How a request without an acceptable bearer token is answered, over HTTP and over gRPC. */
export interface BearerRefusal {
  /** RFC 6750 error code; absent when the request carried no token at all (RFC 6750 section 3.1). */
  error?: 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'temporarily_unavailable';
  /** Safe to return to the caller: never echoes the token. */
  description: string;
  httpStatus: 400 | 401 | 403 | 503;
  grpcStatus: status;
}

export const MISSING_TOKEN: BearerRefusal = Object.freeze({ description: 'a bearer token is required', httpStatus: 401, grpcStatus: status.UNAUTHENTICATED });

export const MALFORMED_AUTHORIZATION: BearerRefusal = Object.freeze({
  error: 'invalid_request', description: 'the authorization header is not one `Bearer <token>`', httpStatus: 400, grpcStatus: status.UNAUTHENTICATED,
});

/** The refusal for an error of {@link TokenVerifier.verify}; undefined for an unexpected error. */
export function refusalOf(err: unknown): BearerRefusal | undefined {
  if (!(err instanceof VerifierError)) return undefined;
  switch (err.code) {
    case 'ERR_TOKEN_ROLE_MISSING':
      return { error: 'insufficient_scope', description: err.message, httpStatus: 403, grpcStatus: status.PERMISSION_DENIED };
    case 'ERR_JWKS_UNAVAILABLE':
      return { error: 'temporarily_unavailable', description: 'the token cannot be checked now', httpStatus: 503, grpcStatus: status.UNAVAILABLE };
    default:
      return { error: 'invalid_token', description: err.message, httpStatus: 401, grpcStatus: status.UNAUTHENTICATED };
  }
}

/** What `authorization` carries: nothing usable as a bearer token, a malformed one, or a token. */
export type BearerCredentials = { kind: 'missing' } | { kind: 'malformed' } | { kind: 'token'; token: string };

// RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * Reads the `authorization` values of a request. No value, or one with another scheme, is a
 * request without a bearer token; several values, or a Bearer value that is not one b64token,
 * are malformed.
 */
export function readBearer(values: readonly string[]): BearerCredentials {
  const bearer = values.filter((v) => /^bearer(\s|$)/i.test(v.trimStart()));
  if (bearer.length === 0) return { kind: 'missing' };
  if (values.length > 1) return { kind: 'malformed' };
  const m = BEARER.exec(bearer[0]!.trim());
  return m === null ? { kind: 'malformed' } : { kind: 'token', token: m[1]! };
}

/** The `WWW-Authenticate` value of a refusal (RFC 6750 section 3). */
export function wwwAuthenticate(refusal: BearerRefusal, realm: string | undefined): string {
  const params: string[] = [];
  if (realm !== undefined) params.push(`realm="${quotable(realm)}"`);
  if (refusal.error !== undefined && refusal.error !== 'temporarily_unavailable') {
    params.push(`error="${refusal.error}"`, `error_description="${quotable(refusal.description)}"`);
  }
  return params.length === 0 ? 'Bearer' : `Bearer ${params.join(', ')}`;
}

/** RFC 6750 allows %x20-21 / %x23-5B / %x5D-7E inside the quoted values: no `"`, no `\`, ASCII only. */
const quotable = (s: string): string => s.replace(/[^\x20-\x7e]|["\\]/g, "'");
