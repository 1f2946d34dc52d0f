import { createPublicKey, type KeyObject } from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWK, type ProtectedHeaderParameters } from 'jose';
import type { Credential, Identity } from '../../gen/authmesh/directory/v1/directory.js';
import { CredentialKind } from '../../gen/authmesh/directory/v1/directory.js';
import type { Clock } from '../clock/index.js';
import { invalidClient } from '../errors/index.js';
import {
  ASSERTION_ALGORITHMS,
  ASSERTION_CLOCK_SKEW_SECONDS,
  MAX_ASSERTION_LIFETIME_SECONDS,
  assertionAudience,
  tokenIssuer,
} from './constants.js';

export interface AssertionContext {
  issuer: string;
  clock: Clock;
  /** Longest lifetime accepted (`exp - iat`, or `exp - now` without `iat`), in seconds. Default 3600. */
  maxLifetimeSeconds?: number;
}

/** Public keys by credential JWK text; credentials are immutable once stored. */
const keyCache = new Map<string, KeyObject>();
const KEY_CACHE_LIMIT = 10_000;

function publicKeyOf(credential: Credential): KeyObject {
  let key = keyCache.get(credential.publicJwkJson);
  if (key === undefined) {
    key = createPublicKey({ key: JSON.parse(credential.publicJwkJson) as JWK & { kty: string }, format: 'jwk' });
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
    keyCache.set(credential.publicJwkJson, key);
  }
  return key;
}

function readHeader(assertion: string): ProtectedHeaderParameters {
  try {
    return decodeProtectedHeader(assertion);
  } catch (err) {
    throw invalidClient('client_assertion is not a well-formed JWT', err);
  }
}

/** Picks the credential named by the header `kid` (JWK thumbprint) or `x5t#S256`. */
function selectCredential(identity: Identity, header: ProtectedHeaderParameters): Credential {
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  const x5t = typeof header['x5t#S256'] === 'string' ? header['x5t#S256'] : undefined;
  if (kid === undefined && x5t === undefined) throw invalidClient('client_assertion header has no kid or x5t#S256');
  const match = identity.credentials.find(
    (c) =>
      c.kind === CredentialKind.CREDENTIAL_KIND_CERTIFICATE &&
      ((kid !== undefined && c.keyId === kid) || (x5t !== undefined && c.x5tS256 !== '' && c.x5tS256 === x5t)),
  );
  if (match === undefined) throw invalidClient('the assertion key id matches no certificate credential of this client');
  return match;
}

function checkValidity(credential: Credential, nowSeconds: number): void {
  if (credential.notBefore !== 0 && nowSeconds < credential.notBefore) throw invalidClient('the credential is not valid yet');
  if (credential.notAfter !== 0 && nowSeconds >= credential.notAfter) throw invalidClient('the credential has expired');
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'client_assertion has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `client_assertion claim "${err.claim}" is invalid (${err.reason})`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'client_assertion signature does not verify';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'client_assertion algorithm does not match the credential key';
  if (err instanceof joseErrors.JWTInvalid || err instanceof joseErrors.JWSInvalid) return 'client_assertion is not a well-formed JWT';
  return 'client_assertion could not be verified';
}

/**
 * Verifies an RFC 7523 client assertion for `identity`: `iss` = `sub` = client id, `aud` = the
 * tenant's token endpoint or its issuer identifier, `exp` and `jti` present, lifetime at most
 * `maxLifetimeSeconds` (one hour by default), 5 minutes of skew,
 * ES256/RS256/PS256 only, signed by the certificate credential the header names.
 * Throws `invalid_client` on any failure.
 */
export async function verifyAssertion(assertion: string, identity: Identity, ctx: AssertionContext): Promise<void> {
  const header = readHeader(assertion);
  if (typeof header.alg !== 'string' || !ASSERTION_ALGORITHMS.includes(header.alg)) {
    throw invalidClient('client_assertion algorithm is not allowed (use ES256, RS256 or PS256)');
  }
  const credential = selectCredential(identity, header);
  const now = ctx.clock.now();
  checkValidity(credential, Math.floor(now / 1000));
  let payload;
  try {
    ({ payload } = await jwtVerify(assertion, publicKeyOf(credential), {
      algorithms: [header.alg],
      issuer: identity.clientId,
      subject: identity.clientId,
      // RFC 7523 section 3: the token endpoint URL or the issuer identifier of the server; OAuth
      // libraries send either (openid-client sends the issuer identifier).
      audience: [assertionAudience(ctx.issuer, identity.tenantId), tokenIssuer(ctx.issuer, identity.tenantId)],
      clockTolerance: ASSERTION_CLOCK_SKEW_SECONDS,
      currentDate: new Date(now),
      requiredClaims: ['exp', 'jti'],
    }));
  } catch (err) {
    throw invalidClient(describeJoseError(err), err);
  }
  if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 256) {
    throw invalidClient('client_assertion claim "jti" must be a non-empty string');
  }
  const nowSeconds = Math.floor(now / 1000);
  if (payload.iat !== undefined && payload.iat > nowSeconds + ASSERTION_CLOCK_SKEW_SECONDS) {
    throw invalidClient('client_assertion claim "iat" is in the future');
  }
  const max = ctx.maxLifetimeSeconds ?? MAX_ASSERTION_LIFETIME_SECONDS;
  const lifetime = payload.exp! - (payload.iat ?? nowSeconds);
  if (lifetime > max) {
    const measured = payload.iat === undefined ? 'exp - now' : 'exp - iat';
    throw invalidClient(`client_assertion lifetime (${measured}) is ${lifetime} s, more than the ${max} s accepted; sign assertions that expire sooner`);
  }
}
