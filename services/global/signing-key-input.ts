import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { invalidArgument } from './store/directory-error.js';

const DOMAIN = /^(global|backup|regional\/[a-z][a-z0-9-]{0,31})$/;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];
const MAX_JWK_LENGTH = 8 * 1024;
/** RSA moduli below this can be factored by a determined attacker (NIST SP 800-131A: 2048 minimum). */
const MIN_RSA_BITS = 2048;
/** Larger moduli only cost every verifier time. */
const MAX_RSA_BITS = 8192;
/** The smallest public exponent NIST SP 800-56B allows. */
const MIN_RSA_EXPONENT = 65537n;
const EC_ALGS = new Set(['ES256']);
const RSA_ALGS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);

/** A public signing key ready to publish: normalised JWK and its RFC 7638 thumbprint. */
export interface PublicSigningKey {
  kid: string;
  domain: string;
  publicJwkJson: string;
}

/**
 * Checks a fault domain's public key before it is published: a known domain name and a public
 * EC P-256 or RSA (2048 to 8192 bits, exponent at least 65537) JWK, with an `alg` that fits it. Private members are refused outright, since publishing them would hand
 * out the domain's signing key.
 */
export async function parseSigningKey(domain: string, publicJwkJson: string): Promise<PublicSigningKey> {
  if (!DOMAIN.test(domain)) throw invalidArgument('domain must be global, backup or regional/<region>');
  if (publicJwkJson === '' || publicJwkJson.length > MAX_JWK_LENGTH) {
    throw invalidArgument('public_jwk_json is required and at most 8 KiB');
  }
  let jwk: Record<string, unknown>;
  try {
    jwk = JSON.parse(publicJwkJson) as Record<string, unknown>;
  } catch {
    throw invalidArgument('public_jwk_json is not valid JSON');
  }
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw invalidArgument('public_jwk_json must be a JSON object');
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) throw invalidArgument('public_jwk_json contains private key material');
  const normalised = publicMembers(jwk);
  let kid: string;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: normalised as JsonWebKey, format: 'jwk' });
    kid = await calculateJwkThumbprint(normalised as JWK, 'sha256');
  } catch {
    throw invalidArgument('public_jwk_json is not a usable public key');
  }
  checkStrength(key);
  return { kid, domain, publicJwkJson: JSON.stringify(normalised) };
}

function publicMembers(jwk: Record<string, unknown>): Record<string, unknown> {
  const str = (name: string): string => {
    const v = jwk[name];
    if (typeof v !== 'string' || v === '') throw invalidArgument(`public_jwk_json: "${name}" must be a non-empty string`);
    return v;
  };
  const alg = (allowed: ReadonlySet<string>): { alg?: string } => {
    if (jwk.alg === undefined) return {};
    if (typeof jwk.alg !== 'string' || !allowed.has(jwk.alg)) throw invalidArgument(`public_jwk_json: alg must be one of ${[...allowed].join(', ')} for this key type`);
    return { alg: jwk.alg };
  };
  if (jwk.kty === 'EC') {
    if (jwk.crv !== 'P-256') throw invalidArgument('public_jwk_json: EC keys must use crv P-256');
    return { kty: 'EC', crv: 'P-256', x: str('x'), y: str('y'), ...alg(EC_ALGS) };
  }
  if (jwk.kty === 'RSA') return { kty: 'RSA', n: str('n'), e: str('e'), ...alg(RSA_ALGS) };
  throw invalidArgument('public_jwk_json: kty must be EC or RSA');
}

/** Refuses weak keys: the parsed key, not the JWK's claims, is what is measured. */
function checkStrength(key: KeyObject): void {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve !== 'prime256v1') throw invalidArgument('public_jwk_json: EC keys must be on curve P-256');
    return;
  }
  if (key.asymmetricKeyType !== 'rsa') throw invalidArgument('public_jwk_json: kty must be EC or RSA');
  const bits = details.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
    throw invalidArgument(`public_jwk_json: RSA keys must have ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits (this one has ${bits})`);
  }
  const exponent = details.publicExponent ?? 0n;
  if (exponent < MIN_RSA_EXPONENT || exponent % 2n === 0n) throw invalidArgument('public_jwk_json: the RSA public exponent must be odd and at least 65537');
}
