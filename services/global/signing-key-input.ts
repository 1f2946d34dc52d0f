import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { invalidArgument } from './store/directory-error.js';

const DOMAIN = /^(global|backup|regional\/[a-z][a-z0-9-]{0,31})$/;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];
const MAX_JWK_LENGTH = 8 * 1024;

/** A public signing key ready to publish: normalised JWK and its RFC 7638 thumbprint. */
export interface PublicSigningKey {
  kid: string;
  domain: string;
  publicJwkJson: string;
}

/**
 * Checks a fault domain's public key before it is published: a known domain name and a public
 * EC P-256 or RSA JWK. Private members are refused outright, since publishing them would hand
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
  try {
    createPublicKey({ key: normalised as JsonWebKey, format: 'jwk' });
    kid = await calculateJwkThumbprint(normalised as JWK, 'sha256');
  } catch {
    throw invalidArgument('public_jwk_json is not a usable public key');
  }
  return { kid, domain, publicJwkJson: JSON.stringify(normalised) };
}

function publicMembers(jwk: Record<string, unknown>): Record<string, unknown> {
  const str = (name: string): string => {
    const v = jwk[name];
    if (typeof v !== 'string' || v === '') throw invalidArgument(`public_jwk_json: "${name}" must be a non-empty string`);
    return v;
  };
  const alg = typeof jwk.alg === 'string' ? { alg: jwk.alg } : {};
  if (jwk.kty === 'EC') {
    if (jwk.crv !== 'P-256') throw invalidArgument('public_jwk_json: EC keys must use crv P-256');
    return { kty: 'EC', crv: 'P-256', x: str('x'), y: str('y'), ...alg };
  }
  if (jwk.kty === 'RSA') return { kty: 'RSA', n: str('n'), e: str('e'), ...alg };
  throw invalidArgument('public_jwk_json: kty must be EC or RSA');
}
