import { createHash, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { invalidRequest } from '../errors/index.js';

/** A certificate credential ready to store: public key, key id and validity. */
export interface ParsedCredential {
  publicJwkJson: string;
  /** RFC 7638 JWK thumbprint (SHA-256) of the public key: the `kid` assertions carry. */
  keyId: string;
  /** base64url SHA-256 of the DER certificate when one was given, else empty. */
  x5tS256: string;
  /** Seconds since the epoch; 0 when unbounded. */
  notBefore: number;
  notAfter: number;
}

const MAX_PEM_BYTES = 16 * 1024;

/** Accepts an SPKI public key or an X.509 certificate in PEM (EC P-256 or RSA 2048+). */
export async function parseCredentialPem(pem: string): Promise<ParsedCredential> {
  if (pem.length === 0 || pem.length > MAX_PEM_BYTES) throw invalidRequest('public key PEM is empty or larger than 16 KiB');
  let key: KeyObject;
  let x5tS256 = '';
  let notBefore = 0;
  let notAfter = 0;
  try {
    if (pem.includes('BEGIN CERTIFICATE')) {
      const cert = new X509Certificate(pem);
      key = cert.publicKey;
      x5tS256 = createHash('sha256').update(cert.raw).digest('base64url');
      notBefore = Math.floor(Date.parse(cert.validFrom) / 1000);
      notAfter = Math.floor(Date.parse(cert.validTo) / 1000);
    } else if (pem.includes('PRIVATE KEY')) {
      throw invalidRequest('a private key was given: register the public key or certificate only');
    } else {
      key = createPublicKey(pem);
    }
  } catch (err) {
    if (err instanceof Error && err.name === 'OAuthError') throw err;
    throw invalidRequest('not a valid PEM public key or certificate');
  }
  checkKeyStrength(key);
  const jwk = key.export({ format: 'jwk' }) as JWK;
  const keyId = await calculateJwkThumbprint(jwk, 'sha256');
  return { publicJwkJson: JSON.stringify(jwk), keyId, x5tS256, notBefore, notAfter };
}

function checkKeyStrength(key: KeyObject): void {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    if (details.namedCurve !== 'prime256v1') throw invalidRequest('EC keys must use curve P-256 (ES256)');
    return;
  }
  if (key.asymmetricKeyType === 'rsa') {
    if ((details.modulusLength ?? 0) < 2048) throw invalidRequest('RSA keys must be at least 2048 bits');
    return;
  }
  throw invalidRequest('only EC P-256 and RSA public keys are supported');
}
