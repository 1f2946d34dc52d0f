import type { Clock } from '../../lib/clock/index.js';
import type { ServiceBinding } from '../../lib/grpc/index.js';
import { AssertionPolicy, issueToken, jwksFromKeys, tokenServiceBinding, VerifiedAssertionCache, type IssueContext, type TokenSigner } from '../../lib/token/index.js';
import type { DirectoryCache } from './directory-cache.js';
import type { RegionalDirectory } from './regional-directory.js';
import { ownSigningKey, publishedKeys } from './signing-key.js';
import type { UsageReporter } from './usage-reporter.js';

export interface RegionalTokenServiceOptions {
  directory: RegionalDirectory;
  cache: DirectoryCache;
  /** The region's key in use (it changes when the key rotates) and when it was made. */
  keys: { readonly current: TokenSigner; readonly createdAtMs: number };
  usage: Pick<UsageReporter, 'record'>;
  issuer: string;
  lifetimeSeconds: number;
  /** Fraction of the lifetime after which clients refresh. Default 0.5. */
  refreshRatio?: number;
  clock: Clock;
  /** Assertion lifetime cap and replay refusal of this instance. Default: one hour, 100,000 ids. */
  assertions?: AssertionPolicy;
  onServerError?: (err: unknown, method: string) => void;
}

/**
 * TokenService for a region: issues from the regional directory with the region's own key and
 * serves the JWK Set from the cached directory keys plus its own. Successful authentications are
 * recorded for the usage report, never waited on.
 */
export function regionalTokenService(options: RegionalTokenServiceOptions): ServiceBinding {
  const { directory, cache, keys, usage, clock } = options;
  const ctx: IssueContext = {
    directory,
    // Read on every call: a rotation swaps the key under running calls.
    get signer() {
      return keys.current;
    },
    issuer: options.issuer,
    lifetimeSeconds: options.lifetimeSeconds,
    refreshRatio: options.refreshRatio ?? 0.5,
    clock,
    // The cache replaces an identity's object on every change from the watch, so a reused
    // assertion is verified once per posture of its client.
    assertionCache: new VerifiedAssertionCache(),
    assertions: options.assertions ?? new AssertionPolicy(),
  };
  return tokenServiceBinding({
    async acquireToken(req, { deadline }) {
      const issued = await issueToken(req, ctx, deadline === undefined ? {} : { deadline });
      usage.record(issued.identity.tenantId, issued.identity.clientId);
      return issued;
    },
    async getJwks() {
      return jwksFromKeys(publishedKeys(cache.signingKeys(), ownSigningKey(keys.current, keys.createdAtMs)), clock.now(), options.lifetimeSeconds * 1000);
    },
    ...(options.onServerError === undefined ? {} : { onServerError: options.onServerError }),
  });
}
