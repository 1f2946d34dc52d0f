import type { AcquireTokenRequest } from '../../gen/authmesh/token/v1/token.js';
import type { Clock } from '../../lib/clock/index.js';
import { unavailable } from '../../lib/errors/index.js';
import type { Logger } from '../../lib/log/index.js';
import { AssertionPolicy, issueToken, jwksFromKeys, type IssueContext, type TokenBackendHandlers, type TokenCallOptions, type TokenSigner } from '../../lib/token/index.js';
import type { BackupDirectory } from './backup-directory.js';
import type { LoadedSnapshot } from './loaded-snapshot.js';

export interface BackupTokenBackendDeps {
  directory: BackupDirectory;
  snapshot: () => LoadedSnapshot | undefined;
  signer: TokenSigner;
  clock: Clock;
  log: Logger;
  issuer: string;
  lifetimeSeconds: number;
  /** Assertion lifetime cap and replay refusal of this instance. Default: one hour, 100,000 ids. */
  assertions?: AssertionPolicy;
  /** Longest token lifetime of any domain, to keep retired keys published (default 1 h). */
  maxTokenLifetimeMs?: number;
}

/** The backup's TokenService: the shared grant over the snapshot directory, signed with the backup key. */
export function backupTokenBackend(deps: BackupTokenBackendDeps): TokenBackendHandlers {
  const ctx: IssueContext = {
    directory: deps.directory,
    signer: deps.signer,
    issuer: deps.issuer,
    lifetimeSeconds: deps.lifetimeSeconds,
    refreshRatio: 0.5,
    clock: deps.clock,
    assertions: deps.assertions ?? new AssertionPolicy(),
  };
  const retention = Math.max(deps.maxTokenLifetimeMs ?? 3_600_000, deps.lifetimeSeconds * 1000);
  return {
    acquireToken: (req: AcquireTokenRequest, options: TokenCallOptions) => issueToken(req, ctx, options),
    getJwks(): Promise<string> {
      const s = deps.snapshot();
      if (s === undefined) return Promise.reject(unavailable('backup-stale', 'no valid snapshot loaded'));
      return Promise.resolve(jwksFromKeys(s.signingKeys, deps.clock.now(), retention));
    },
    onServerError(err: unknown, method: string) {
      deps.log.error({ err, method }, 'token request failed');
    },
  };
}
