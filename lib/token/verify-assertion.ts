import { constants as cryptoConstants, createPublicKey, verify as verifySignature, type KeyObject, type VerifyKeyObjectInput, type VerifyPublicKeyInput } from 'node:crypto';
import type { JWK } from 'jose';
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

/** A JWS header or claims set: a JSON object. */
type JsonObject = Record<string, unknown>;

/** A compact JWS split and decoded once: its header, claims set and signature. */
export interface ParsedAssertion {
  header: JsonObject;
  /** The base64url payload, decoded by `claimsOf` once the signature verified. */
  encodedPayload: string;
  /** `<header>.<payload>`, ASCII. */
  signingInput: string;
  encodedSignature: string;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Strict base64url (RFC 7515 section 2: no padding, no other alphabet, no whitespace); undefined when it is not. */
function base64url(part: string): Buffer | undefined {
  if (part.length % 4 === 1 || !BASE64URL.test(part)) return undefined;
  return Buffer.from(part, 'base64url');
}

/** A plain JSON object from base64url UTF-8 JSON text, or undefined. */
function jsonObject(part: string): JsonObject | undefined {
  const bytes = base64url(part);
  if (bytes === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(bytes));
  } catch {
    return undefined;
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as JsonObject) : undefined;
}

/**
 * The compact serialization's three parts with its header decoded (a JSON object, strictly
 * base64url); the payload and signature are checked when a key is tried.
 */
export function parseAssertion(assertion: string): ParsedAssertion {
  const first = assertion.indexOf('.');
  const second = first < 0 ? -1 : assertion.indexOf('.', first + 1);
  if (second < 0 || assertion.indexOf('.', second + 1) >= 0) throw invalidClient('client_assertion is not a well-formed JWT');
  const header = jsonObject(assertion.slice(0, first));
  if (header === undefined) throw invalidClient('client_assertion is not a well-formed JWT');
  return { header, encodedPayload: assertion.slice(first + 1, second), signingInput: assertion.slice(0, second), encodedSignature: assertion.slice(second + 1) };
}

/** At most this many credentials are tried for an assertion whose header names none. */
export const MAX_KIDLESS_CANDIDATES = 10;

/**
 * The credential named by the header `kid` (JWK thumbprint) or `x5t#S256`; undefined when the
 * header names none (RFC 7523 does not require a key id).
 */
function namedCredential(identity: Identity, header: JsonObject): Credential | undefined {
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

/** The claims set of an assertion already verified (a cached one); empty when it cannot be decoded. */
export function assertionClaims(assertion: string): JsonObject {
  const parts = assertion.split('.');
  return (parts.length === 3 ? jsonObject(parts[1]!) : undefined) ?? {};
}

/** A signature that does not verify with the key tried (a kid-less search tries the next). */
class SignatureMismatch extends Error {}

/** The claims of a verified assertion that the rest of the request uses. */
export interface VerifiedAssertion {
  credential: Credential;
  /** `exp`, seconds. */
  exp: number;
  jti: string;
  /** The header's `kid` and `x5t#S256` when strings. */
  kid: string | undefined;
  x5t: string | undefined;
}

/** What checkAssertion decided before any signature is checked: the credentials to try, in order. */
interface AssertionPlan {
  parsed: ParsedAssertion;
  alg: string;
  now: number;
  kid: string | undefined;
  x5t: string | undefined;
  /**
   * The credentials to try, in order: the one the header names (checked against its validity
   * window) alone, or, for a header that names none, the client's current certificate credentials.
   */
  tries: Credential[];
  /** No credential named: a try whose key does not fit `alg`, or whose signature does not verify, moves on to the next. */
  kidless: boolean;
}

/** The header checks and the choice of credentials, shared by the synchronous and pool forms. */
function planAssertion(assertion: string, identity: Identity, ctx: AssertionContext): AssertionPlan {
  const parsed = parseAssertion(assertion);
  const { header } = parsed;
  const alg = header.alg;
  if (typeof alg !== 'string' || !ASSERTION_ALGORITHMS.includes(alg)) {
    throw invalidClient('client_assertion algorithm is not allowed (use ES256, RS256 or PS256)');
  }
  // RFC 7515 section 4.1.11: an extension the recipient must understand; none is supported here
  // (not even RFC 7797 `b64`, which a JWT must not use).
  if (header.crit !== undefined) throw invalidClient('client_assertion header carries "crit"; no critical extension is supported');
  const now = ctx.clock.now();
  const nowSeconds = Math.floor(now / 1000);
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  const x5t = typeof header['x5t#S256'] === 'string' ? header['x5t#S256'] : undefined;
  const named = namedCredential(identity, header);
  if (named !== undefined) {
    checkValidity(named, nowSeconds);
    return { parsed, alg, now, kid, x5t, tries: [named], kidless: false };
  }
  const current = currentCertificates(identity, nowSeconds);
  if (current.length === 0) throw invalidClient('client_assertion has no kid or x5t#S256 and the client has no valid certificate credential');
  if (current.length > MAX_KIDLESS_CANDIDATES) {
    throw invalidClient(`client_assertion has no kid or x5t#S256 and the client has more than ${MAX_KIDLESS_CANDIDATES} valid certificate credentials: send the kid header`);
  }
  return { parsed, alg, now, kid, x5t, tries: current, kidless: true };
}

const noKidlessMatch = (): OAuthError =>
  invalidClient('client_assertion has no kid or x5t#S256 and its signature verifies with none of the client\'s valid certificate credentials');

/** A kid-less search passes over a credential whose key cannot verify `alg` (a named one is refused for it by verifyWith). */
const skipped = (plan: AssertionPlan, credential: Credential): boolean => plan.kidless && !keyMatchesAlgorithm(publicKeyOf(credential), plan.alg);

/** A kid-less search tries the next credential when the signature is another key's; any other failure is the assertion's own. */
const triesNext = (plan: AssertionPlan, err: unknown): boolean => plan.kidless && err instanceof OAuthError && err.cause instanceof SignatureMismatch;

/**
 * Verifies an RFC 7523 client assertion for `identity`: `iss` = `sub` = client id, `aud` = the
 * tenant's token endpoint or its issuer identifier, `exp` and `jti` present, lifetime at most
 * `maxLifetimeSeconds` (one hour by default), 5 minutes of skew, ES256/RS256/PS256 only, no `crit`
 * header, signed by the certificate credential the header names. A header that names none (`kid`
 * and `x5t#S256` absent, as generic OAuth clients send it) is tried against each of the client's
 * currently valid certificate credentials, at most {@link MAX_KIDLESS_CANDIDATES}.
 * Resolves with the credential that verified; throws `invalid_client` on any failure.
 */
export async function verifyAssertion(assertion: string, identity: Identity, ctx: AssertionContext): Promise<Credential> {
  return checkAssertion(assertion, identity, ctx).credential;
}

/**
 * {@link verifyAssertion}, synchronously (node:crypto `verify` on the calling thread), with the
 * claims the rest of the request needs so that nothing decodes the assertion again.
 */
export function checkAssertion(assertion: string, identity: Identity, ctx: AssertionContext): VerifiedAssertion {
  const plan = planAssertion(assertion, identity, ctx);
  for (const credential of plan.tries) {
    if (skipped(plan, credential)) continue;
    try {
      return { credential, kid: plan.kid, x5t: plan.x5t, ...verifyWith(plan, credential, identity, ctx) };
    } catch (err) {
      if (!triesNext(plan, err)) throw err;
    }
  }
  throw noKidlessMatch();
}

/**
 * {@link checkAssertion} with the signature checked on libuv's thread pool (node:crypto `verify`'s
 * callback form): every check and refusal is the same, but the event loop goes on with other
 * calls while the public-key operation runs, as {@link TokenSigner.signAsync} does for signing.
 */
export async function checkAssertionAsync(assertion: string, identity: Identity, ctx: AssertionContext): Promise<VerifiedAssertion> {
  const plan = planAssertion(assertion, identity, ctx);
  for (const credential of plan.tries) {
    if (skipped(plan, credential)) continue;
    try {
      return { credential, kid: plan.kid, x5t: plan.x5t, ...(await verifyWithAsync(plan, credential, identity, ctx)) };
    } catch (err) {
      if (!triesNext(plan, err)) throw err;
    }
  }
  throw noKidlessMatch();
}

/** Whether `key` can verify `alg`: ES256 a P-256 EC key; RS256 and PS256 an RSA key of 2048 bits or more (PS256 also an RSA-PSS key). */
function keyMatchesAlgorithm(key: KeyObject, alg: string): boolean {
  const type = key.asymmetricKeyType;
  if (alg === 'ES256') return type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  if (type !== 'rsa' && !(alg === 'PS256' && type === 'rsa-pss')) return false;
  return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048;
}

/** node:crypto's verify options for `alg` with `key` (ES256 signatures are r || s, RFC 7518 section 3.4). */
function verifyKey(alg: string, key: KeyObject): VerifyKeyObjectInput | VerifyPublicKeyInput {
  if (alg === 'ES256') return { key, dsaEncoding: 'ieee-p1363' };
  if (alg === 'PS256') return { key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
  return { key, padding: cryptoConstants.RSA_PKCS1_PADDING };
}

/** The signature over the signing input with `key` under `alg`; false also when node:crypto refuses the input. */
function signatureVerifies(parsed: ParsedAssertion, signature: Buffer, alg: string, key: KeyObject): boolean {
  try {
    return verifySignature('sha256', Buffer.from(parsed.signingInput, 'latin1'), verifyKey(alg, key), signature);
  } catch {
    return false;
  }
}

/** {@link signatureVerifies} on libuv's thread pool. */
function signatureVerifiesAsync(parsed: ParsedAssertion, signature: Buffer, alg: string, key: KeyObject): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      verifySignature('sha256', Buffer.from(parsed.signingInput, 'latin1'), verifyKey(alg, key), signature, (err, ok) => resolve(err === null && ok));
    } catch {
      resolve(false);
    }
  });
}

const invalidClaim = (claim: string, reason: 'missing' | 'check_failed' | 'invalid'): OAuthError => invalidClient(`client_assertion claim "${claim}" is invalid (${reason})`);

/** A NumericDate claim: undefined when absent, refused when not a number. */
function numericDate(claims: JsonObject, claim: string): number | undefined {
  const value = claims[claim];
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw invalidClaim(claim, 'invalid');
  return value;
}

/** The key of `credential` and the decoded signature, once the assertion's form and the key's type are checked. */
function signatureInput(plan: AssertionPlan, credential: Credential): { key: KeyObject; signature: Buffer } {
  const { parsed, alg } = plan;
  const key = publicKeyOf(credential);
  const signature = base64url(parsed.encodedSignature);
  if (signature === undefined || parsed.encodedPayload.length % 4 === 1 || !BASE64URL.test(parsed.encodedPayload)) {
    throw invalidClient('client_assertion is not a well-formed JWT');
  }
  if (!keyMatchesAlgorithm(key, alg)) throw invalidClient('client_assertion algorithm does not match the credential key');
  return { key, signature };
}

const signatureMismatch = (): OAuthError => invalidClient('client_assertion signature does not verify', new SignatureMismatch());

/** The signature and claim checks against one credential. */
function verifyWith(plan: AssertionPlan, credential: Credential, identity: Identity, ctx: AssertionContext): { exp: number; jti: string } {
  const { key, signature } = signatureInput(plan, credential);
  if (!signatureVerifies(plan.parsed, signature, plan.alg, key)) throw signatureMismatch();
  return checkClaims(plan, identity, ctx);
}

/** {@link verifyWith} with the signature checked on libuv's thread pool. */
async function verifyWithAsync(plan: AssertionPlan, credential: Credential, identity: Identity, ctx: AssertionContext): Promise<{ exp: number; jti: string }> {
  const { key, signature } = signatureInput(plan, credential);
  if (!(await signatureVerifiesAsync(plan.parsed, signature, plan.alg, key))) throw signatureMismatch();
  return checkClaims(plan, identity, ctx);
}

/** The claim checks of an assertion whose signature verified. */
function checkClaims({ parsed, now }: AssertionPlan, identity: Identity, ctx: AssertionContext): { exp: number; jti: string } {
  const claims = jsonObject(parsed.encodedPayload);
  if (claims === undefined) throw invalidClient('client_assertion is not a well-formed JWT');
  for (const claim of ['iss', 'sub', 'aud', 'jti', 'exp']) {
    if (!Object.hasOwn(claims, claim)) throw invalidClaim(claim, 'missing');
  }
  if (claims.iss !== identity.clientId) throw invalidClaim('iss', 'check_failed');
  if (claims.sub !== identity.clientId) throw invalidClaim('sub', 'check_failed');
  // RFC 7523 section 3: the token endpoint URL or the issuer identifier of the server; OAuth
  // libraries send either (openid-client sends the issuer identifier).
  const audiences = [assertionAudience(ctx.issuer, identity.tenantId), tokenIssuer(ctx.issuer, identity.tenantId)];
  const aud = claims.aud;
  const audOk = typeof aud === 'string' ? audiences.includes(aud) : Array.isArray(aud) && audiences.some((a) => aud.includes(a));
  if (!audOk) throw invalidClaim('aud', 'check_failed');
  const nowSeconds = Math.floor(now / 1000);
  const iat = numericDate(claims, 'iat');
  const nbf = numericDate(claims, 'nbf');
  if (nbf !== undefined && nbf > nowSeconds + ASSERTION_CLOCK_SKEW_SECONDS) throw invalidClaim('nbf', 'check_failed');
  const exp = numericDate(claims, 'exp')!;
  if (exp <= nowSeconds - ASSERTION_CLOCK_SKEW_SECONDS) throw invalidClient('client_assertion has expired');
  const jti = claims.jti;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) {
    throw invalidClient('client_assertion claim "jti" must be a non-empty string');
  }
  if (iat !== undefined && iat > nowSeconds + ASSERTION_CLOCK_SKEW_SECONDS) {
    throw invalidClient('client_assertion claim "iat" is in the future');
  }
  const max = ctx.maxLifetimeSeconds ?? MAX_ASSERTION_LIFETIME_SECONDS;
  const lifetime = exp - (iat ?? nowSeconds);
  if (lifetime > max) {
    const measured = iat === undefined ? 'exp - now' : 'exp - iat';
    throw invalidClient(`client_assertion lifetime (${measured}) is ${lifetime} s, more than the ${max} s accepted; sign assertions that expire sooner`);
  }
  return { exp, jti };
}
