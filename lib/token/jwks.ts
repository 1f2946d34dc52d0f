import type { SigningKey } from '../../gen/authmesh/directory/v1/directory.js';

/**
 * The JWK Set (RFC 7517) of every key that can verify a token still valid: active keys, and
 * retired keys until the longest-lived token they could have signed has expired.
 */
export function jwksFromKeys(keys: readonly SigningKey[], nowMs: number, maxTokenLifetimeMs: number): string {
  const published = keys
    .filter((k) => k.retiredAtMs === 0 || k.retiredAtMs + maxTokenLifetimeMs > nowMs)
    .sort((a, b) => a.createdAtMs - b.createdAtMs || a.kid.localeCompare(b.kid))
    .map((k) => {
      const jwk = JSON.parse(k.publicJwkJson) as Record<string, unknown>;
      return { ...jwk, kid: k.kid, use: 'sig', alg: jwk.alg ?? 'ES256' };
    });
  return JSON.stringify({ keys: published });
}
