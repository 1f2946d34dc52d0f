import { createPrivateKey, createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, SignJWT, type JWK } from 'jose';
import { assertionAudience } from './constants.js';

export interface AssertionInput {
  tenantId: string;
  clientId: string;
  /** Issuer base of the mesh, e.g. `https://login.authmesh.local`. */
  issuer: string;
  /** The credential's private key (PEM text or KeyObject). */
  privateKey: string | KeyObject;
  /** Seconds the assertion stays valid (default 600, at most 3600). */
  lifetimeSeconds?: number;
  /** Milliseconds since the epoch (default now). */
  nowMs?: number;
}

export interface BuiltAssertion {
  assertion: string;
  keyId: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

/** Algorithm for a private key: ES256 for P-256, RS256 for RSA. */
export function algorithmFor(key: KeyObject): 'ES256' | 'RS256' {
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  throw new Error('client keys must be EC P-256 or RSA');
}

/** The RFC 7638 thumbprint of a private key's public half: the key id the mesh registered. */
export async function keyIdOf(privateKey: KeyObject): Promise<string> {
  return calculateJwkThumbprint(createPublicKey(privateKey).export({ format: 'jwk' }) as JWK, 'sha256');
}

/** Builds an RFC 7523 client assertion: iss = sub = client id, aud = the tenant's token endpoint. */
export async function buildAssertion(input: AssertionInput): Promise<BuiltAssertion> {
  const key = typeof input.privateKey === 'string' ? createPrivateKey(input.privateKey) : input.privateKey;
  const keyId = await keyIdOf(key);
  const now = Math.floor((input.nowMs ?? Date.now()) / 1000);
  const expiresAt = now + Math.min(input.lifetimeSeconds ?? 600, 3600);
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: algorithmFor(key), kid: keyId, typ: 'JWT' })
    .setIssuer(input.clientId)
    .setSubject(input.clientId)
    .setAudience(assertionAudience(input.issuer, input.tenantId))
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(expiresAt)
    .setJti(randomUUID())
    .sign(key);
  return { assertion, keyId, expiresAt };
}
