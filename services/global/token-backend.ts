import type { AcquireTokenRequest } from '../../gen/authmesh/token/v1/token.js';
import type { Clock } from '../../lib/clock/index.js';
import type { DirectoryView, LookupResult } from '../../lib/directory/index.js';
import type { Logger } from '../../lib/log/index.js';
import { AssertionPolicy, issueToken, jwksFromKeys, type IssueContext, type TokenBackendHandlers, type TokenCallOptions, type TokenSigner } from '../../lib/token/index.js';
import { unavailable } from '../../lib/errors/index.js';
import { isDirectoryError } from './store/directory-error.js';
import type { DirectoryStore } from './store/store.js';
import type { UsageRecorder } from './usage-recorder.js';

/** Global reads its own store: the data is never stale, so its age is 0. */
export function storeDirectoryView(store: DirectoryStore): DirectoryView {
  return {
    async lookup(tenantId: string, clientId: string): Promise<LookupResult> {
      try {
        const { tenant, identity } = await store.lookup(tenantId, clientId);
        return { tenant, identity, dataAgeMs: 0 };
      } catch (err) {
        // The gateway moves on to the next fault domain.
        if (isDirectoryError(err) && err.code === 'unavailable') throw unavailable('not-ready', 'the directory store is unavailable', err);
        throw err;
      }
    },
  };
}

export interface GlobalTokenBackendDeps {
  store: DirectoryStore;
  /** Global's key in use (it changes when the key rotates). */
  keys: { readonly current: TokenSigner };
  usage: UsageRecorder;
  clock: Clock;
  log: Logger;
  issuer: string;
  lifetimeSeconds: number;
  /** Fraction of the lifetime after which clients refresh (default 0.5). */
  refreshRatio?: number;
  /** Assertion lifetime cap and replay refusal of this instance. Default: one hour, 100,000 ids. */
  assertions?: AssertionPolicy;
}

/**
 * Global's TokenService: issues for any identity in its store, records the authentication
 * (region `global`) through the batched usage recorder so the write stays off the call's path.
 */
export function globalTokenBackend(deps: GlobalTokenBackendDeps): TokenBackendHandlers {
  const { keys } = deps;
  const ctx: IssueContext = {
    directory: storeDirectoryView(deps.store),
    // Read on every call: a rotation swaps the key under running calls.
    get signer() {
      return keys.current;
    },
    issuer: deps.issuer,
    lifetimeSeconds: deps.lifetimeSeconds,
    refreshRatio: deps.refreshRatio ?? 0.5,
    clock: deps.clock,
    assertions: deps.assertions ?? new AssertionPolicy(),
  };
  return {
    async acquireToken(req: AcquireTokenRequest, options: TokenCallOptions) {
      const issued = await issueToken(req, ctx, options);
      deps.usage.record({
        tenantId: issued.identity.tenantId,
        clientId: issued.identity.clientId,
        region: 'global',
        atMs: deps.clock.now(),
        authenticated: true,
      });
      return issued;
    },
    async getJwks(): Promise<string> {
      return jwksFromKeys(await deps.store.signingKeys(), deps.clock.now(), deps.lifetimeSeconds * 1000);
    },
    onServerError(err: unknown, method: string) {
      deps.log.error({ err, method }, 'token request failed');
    },
  };
}
