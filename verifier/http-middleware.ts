import type { IncomingMessage, ServerResponse } from 'node:http';
import { MALFORMED_AUTHORIZATION, MISSING_TOKEN, readBearer, refusalOf, wwwAuthenticate, type BearerRefusal } from './bearer-refusal.js';
import type { TokenVerifier, VerifiedToken } from './token-verifier.js';

/** A request the middleware let through: `auth` holds the verified token. */
export interface AuthenticatedRequest extends IncomingMessage {
  auth?: VerifiedToken;
}

export interface BearerMiddlewareOptions {
  /** Roles every request must hold; a token without them is answered 403 `insufficient_scope`. */
  requiredRoles?: readonly string[];
  /** `realm` of the `WWW-Authenticate` challenge. Default none. */
  realm?: string;
}

/** Express-style middleware: `(req, res, next)`; `next(err)` only for an unexpected failure. */
export type BearerMiddleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/**
 * Checks the bearer token of every request with `verifier` (Node `http` or Express). An accepted
 * request gets `req.auth` and goes on to `next()`; the others are answered as RFC 6750 says:
 * no token → 401 with `WWW-Authenticate: Bearer`; a malformed header → 400 `invalid_request`; a
 * bad, expired or foreign token → 401 `invalid_token`; a missing role → 403 `insufficient_scope`;
 * a key set that cannot be fetched → 503. Error answers carry a JSON body
 * `{ error, error_description }`.
 */
export function bearerMiddleware(verifier: TokenVerifier, options: BearerMiddlewareOptions = {}): BearerMiddleware {
  const verifyOptions = options.requiredRoles === undefined ? {} : { requiredRoles: options.requiredRoles };
  return (req, res, next) => {
    const raw = req.headersDistinct.authorization ?? [];
    const bearer = readBearer(raw);
    if (bearer.kind === 'missing') return refuse(res, MISSING_TOKEN, options.realm);
    if (bearer.kind === 'malformed') return refuse(res, MALFORMED_AUTHORIZATION, options.realm);
    verifier.verify(bearer.token, verifyOptions).then(
      (verified) => {
        (req as AuthenticatedRequest).auth = verified;
        next();
      },
      (err: unknown) => {
        const refusal = refusalOf(err);
        if (refusal === undefined) next(err);
        else refuse(res, refusal, options.realm);
      },
    );
  };
}

function refuse(res: ServerResponse, refusal: BearerRefusal, realm: string | undefined): void {
  res.statusCode = refusal.httpStatus;
  res.setHeader('cache-control', 'no-store');
  if (refusal.httpStatus === 503) res.setHeader('retry-after', '5');
  else res.setHeader('www-authenticate', wwwAuthenticate(refusal, realm));
  if (refusal.error === undefined) {
    res.end();
    return;
  }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ error: refusal.error, error_description: refusal.description }));
}
