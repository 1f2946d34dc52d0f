import { createPublicKey, type KeyObject } from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWK, type ProtectedHeaderParameters } from 'jose';
import type { Credential, Identity } from '../../gen/authmesh/directory/v1/directory.js';
import { CredentialKind } from '../../gen/authmesh/directory/v1/directory.js';
import type { Clock } from '../clock/index.js';
import { OAuthError, invalidClient } from '../errors/index.js';
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

/** At most this many credentials are tried for an assertion whose header names none. */
export const MAX_KIDLESS_CANDIDATES = 10;

/**
 * The credential named by the header `kid` (JWK thumbprint) or `x5t#S256`; undefined when the
 * header names none (RFC 7523 does not require a key id).
 */
function namedCredential(identity: Identity, header: ProtectedHeaderParameters): Credential | undefined {
  // Only a header without either member is searched; a member of the wrong type names no key.
  if (!('kid' in header) && !('x5t#S256' in header)) return undefined;
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  const x5t = typeof header['x5t#S256'] === 'string' ? header['x5t#S256'] : undefined;
  if (kid === undefined && x5t === undefined) throw invalidClient('the assertion header names its key with kid or x5t#S256 of the wrong type (a string is required)');
  const match = identity.credentials.find(
    (c) =>
      c.kind === CredentialKind.CREDENTIAL_KIND_CERTIFICATE &&
      ((kid !== undefined && c.keyId === kid) || (x5t !== undefined && c.x5tS256 !== '' && c.x5tS256 === x5t)),
  );
  if (match === undefined) throw invalidClient('the assertion key id matches no certificate credential of this client');
  return match;
}

/** Whether a credential's key can have made a signature with `alg` (so a kid-less search skips the rest). */
function keyFitsAlgorithm(credential: Credential, alg: string): boolean {
  const type = publicKeyOf(credential).asymmetricKeyType;
  return alg.startsWith('ES') ? type === 'ec' : type === 'rsa' || type === 'rsa-pss';
}

/** Certificate credentials inside their validity window, the candidates for a kid-less assertion. */
function currentCertificates(identity: Identity, nowSeconds: number): Credential[] {
  return identity.credentials.filter(
    (c) => c.kind === CredentialKind.CREDENTIAL_KIND_CERTIFICATE && (c.notBefore === 0 || nowSeconds >= c.notBefore) && (c.notAfter === 0 || nowSeconds < c.notAfter),
  );
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
 * `maxLifetimeSeconds` (one hour by default), 5 minutes of skew, ES256/RS256/PS256 only, signed by
 * the certificate credential the header names. A header that names none (`kid` and `x5t#S256`
 * absent, as generic OAuth clients send it) is tried against each of the client's currently valid
 * certificate credentials, at most {@link MAX_KIDLESS_CANDIDATES}.
 * Resolves with the credential that verified; throws `invalid_client` on any failure.
 */
export async function verifyAssertion(assertion: string, identity: Identity, ctx: AssertionContext): Promise<Credential> {
  const header = readHeader(assertion);
  const alg = header.alg;
  if (typeof alg !== 'string' || !ASSERTION_ALGORITHMS.includes(alg)) {
    throw invalidClient('client_assertion algorithm is not allowed (use ES256, RS256 or PS256)');
  }
  const now = ctx.clock.now();
  const nowSeconds = Math.floor(now / 1000);
  const named = namedCredential(identity, header);
  if (named !== undefined) {
    checkValidity(named, nowSeconds);
    await verifyWith(assertion, alg, named, identity, ctx, now);
    return named;
  }
  const candidates = currentCertificates(identity, nowSeconds);
  if (candidates.length === 0) throw invalidClient('client_assertion has no kid or x5t#S256 and the client has no valid certificate credential');
  if (candidates.length > MAX_KIDLESS_CANDIDATES) {
    throw invalidClient(`client_assertion has no kid or x5t#S256 and the client has more than ${MAX_KIDLESS_CANDIDATES} valid certificate credentials: send the kid header`);
  }
  for (const candidate of candidates) {
    if (!keyFitsAlgorithm(candidate, alg)) continue;
    try {
      await verifyWith(assertion, alg, candidate, identity, ctx, now);
      return candidate;
    } catch (err) {
      // Another credential's key: try the next. Any other failure is this assertion's own.
      if (!(err instanceof OAuthError && err.cause instanceof joseErrors.JWSSignatureVerificationFailed)) throw err;
    }
  }
  throw invalidClient('client_assertion has no kid or x5t#S256 and its signature verifies with none of the client\'s valid certificate credentials');
}

/** The signature and claim checks against one credential. */
async function verifyWith(assertion: string, alg: string, credential: Credential, identity: Identity, ctx: AssertionContext, now: number): Promise<void> {
  let payload;
  try {
    ({ payload } = await jwtVerify(assertion, publicKeyOf(credential), {
      algorithms: [alg],
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
