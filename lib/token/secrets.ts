import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const PREFIX = 'sha256';

/**
 * A new client secret: 32 random bytes. Because secrets are machine-generated with 256 bits of
 * entropy, a salted SHA-256 resists offline guessing as well as a slow hash would, and keeps
 * secret checks cheap on the token path.
 */
export function generateSecret(): string {
  return `ams_${randomBytes(32).toString('base64url')}`;
}

/** `sha256$<salt>$<digest>`, both base64url. Only this is ever stored or sent. */
export function hashSecret(secret: string): string {
  const salt = randomBytes(16);
  return `${PREFIX}$${salt.toString('base64url')}$${digest(salt, secret).toString('base64url')}`;
}

/** Compares in constant time; false for any malformed hash. */
export function verifySecret(secret: string, stored: string): boolean {
  const parts = stored.split('$');
  if (parts.length !== 3 || parts[0] !== PREFIX) return false;
  const expected = Buffer.from(parts[2]!, 'base64url');
  const actual = digest(Buffer.from(parts[1]!, 'base64url'), secret);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

function digest(salt: Buffer, secret: string): Buffer {
  return createHash('sha256').update(salt).update(secret, 'utf8').digest();
}
