import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { generateSigningKeyPem, writePrivateFile } from '../token/index.js';

/** The key global signs snapshots with (ES256). The private half stays in global's data dir. */
export interface ExportSigner {
  /** RFC 7638 thumbprint of the public key. */
  readonly kid: string;
  readonly publicKeyPem: string;
  sign(data: Buffer): Buffer;
}

/** The public half, what the backup is configured with. */
export interface ExportVerifier {
  readonly kid: string;
  verify(data: Buffer, signature: Buffer): boolean;
}

async function thumbprint(key: KeyObject): Promise<string> {
  return calculateJwkThumbprint(key.export({ format: 'jwk' }) as JWK, 'sha256');
}

function checkP256(key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`${what} must be an EC P-256 key`);
  }
}

export async function exportSignerFromPem(privatePem: string): Promise<ExportSigner> {
  const privateKey = createPrivateKey(privatePem);
  checkP256(privateKey, 'export key');
  const publicKey = createPublicKey(privateKey);
  const kid = await thumbprint(publicKey);
  return {
    kid,
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    sign: (data) => sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' }),
  };
}

export async function exportVerifierFromPem(publicPem: string): Promise<ExportVerifier> {
  const publicKey = createPublicKey(publicPem);
  checkP256(publicKey, 'export public key');
  const kid = await thumbprint(publicKey);
  return {
    kid,
    verify: (data, signature) => {
      try {
        return verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
      } catch {
        return false;
      }
    },
  };
}

/**
 * Loads the export key at `privateFile` (mode 0600), creating it on first start, and writes its
 * public key to `publicFile` for whoever sets up a backup.
 */
export async function loadOrCreateExportKey(privateFile: string, publicFile: string): Promise<ExportSigner> {
  let pem: string;
  try {
    pem = readFileSync(privateFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    pem = generateSigningKeyPem();
    writePrivateFile(privateFile, pem);
  }
  const signer = await exportSignerFromPem(pem);
  writeFileSync(publicFile, signer.publicKeyPem, { mode: 0o644 });
  return signer;
}
