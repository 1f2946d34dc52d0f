/** The HTTPS front's OpenID discovery document and JWK Set endpoints. */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GetJwksRequest, GetJwksResponse } from '../../gen/authmesh/token/v1/token.js';
import type { Logger } from '../../lib/log/index.js';
import { ASSERTION_ALGORITHMS, assertionAudience, tokenIssuer } from '../../lib/token/index.js';
import type { CallerSignal, Forwarder } from '../routing/forwarder.js';
import { errorFromForward, noteForwardFailure, noteRefusal, sendJson, sendOAuthError, type HttpOAuthError } from './http-errors.js';
import type { CallOutcome } from './request-metrics.js';

/** How long clients may cache the discovery document, seconds. */
export const DISCOVERY_MAX_AGE_SECONDS = 3600;
/**
 * How long clients may cache the JWK Set, seconds. Short, because a new key is published before
 * it signs anything and clients should see it soon; verifiers also refetch on an unknown `kid`.
 */
export const JWKS_MAX_AGE_SECONDS = 300;

/** The JWK Set path of a tenant. */
export const jwksPath = (tenantId: string): string => `/${tenantId}/discovery/v2.0/keys`;

/**
 * OpenID Connect Discovery 1.0 / RFC 8414 metadata of a tenant. `issuer` is the token issuer
 * shared by every fault domain; the endpoints are this gateway's.
 */
export function discoveryDocument(issuer: string, publicUrl: string, tenantId: string): Record<string, unknown> {
  return {
    issuer: tokenIssuer(issuer, tenantId),
    token_endpoint: assertionAudience(publicUrl, tenantId),
    jwks_uri: `${publicUrl}${jwksPath(tenantId)}`,
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_post', 'client_secret_basic'],
    token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGORITHMS],
    grant_types_supported: ['client_credentials'],
    // Required members of OpenID Provider Metadata; this provider issues no ID tokens to users,
    // so they state the minimum a client library expects.
    response_types_supported: ['token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
  };
}

const etagOf = (body: string): string => `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;

/** Answers 304 when the client's `If-None-Match` names this entity tag. */
function notModified(req: IncomingMessage, etag: string): boolean {
  const header = req.headers['if-none-match'];
  if (header === undefined) return false;
  return header === '*' || header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/** Sends a cacheable JSON document with an ETag, or 304 when the client has it. */
export function sendCacheable(req: IncomingMessage, res: ServerResponse, body: unknown, maxAgeSeconds: number): void {
  const text = JSON.stringify(body);
  const etag = etagOf(text);
  const headers = { 'cache-control': `public, max-age=${maxAgeSeconds}`, etag };
  if (notModified(req, etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  sendJson(res, 200, body, headers);
}

/** Serves the JWK Set: GetJwks through the failover loop, like every other call. */
export async function serveJwks(
  req: IncomingMessage,
  res: ServerResponse,
  tenantId: string,
  deps: { failover: Forwarder; log: Logger; signal: CallerSignal; outcome?: CallOutcome },
): Promise<void> {
  const r = await deps.failover.forward({
    method: 'getJwks',
    bytes: Buffer.from(GetJwksRequest.encode({ tenantId }).finish()),
    signal: deps.signal,
  });
  if (!r.ok) {
    deps.log.warn({ route: 'jwks', code: r.code, attempts: r.attempts }, 'jwks not served');
    const e = errorFromForward(r);
    noteForwardFailure(deps.outcome, r, e);
    sendOAuthError(res, e);
    return;
  }
  let jwks: unknown;
  try {
    jwks = JSON.parse(GetJwksResponse.decode(r.bytes).jwksJson);
  } catch (err) {
    deps.log.error({ err, domain: r.domain }, 'a fault domain sent a JWK Set that is not JSON');
    const e: HttpOAuthError = { status: 502, error: 'server_error', description: 'internal error' };
    noteRefusal(deps.outcome, e);
    if (deps.outcome !== undefined) deps.outcome.faultDomain = r.domain;
    sendOAuthError(res, e);
    return;
  }
  if (deps.outcome !== undefined) deps.outcome.faultDomain = r.domain;
  sendCacheable(req, res, jwks, JWKS_MAX_AGE_SECONDS);
}
