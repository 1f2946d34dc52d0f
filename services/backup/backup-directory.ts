import type { Clock } from '../../lib/clock/index.js';
import type { DirectoryView, LookupResult } from '../../lib/directory/index.js';
import { unavailable } from '../../lib/errors/index.js';
import { coverageOf } from './coverage.js';
import { identityKey, type LoadedSnapshot } from './loaded-snapshot.js';

export interface BackupDirectoryOptions {
  /** The snapshot in use, or undefined before one loaded. */
  snapshot: () => LoadedSnapshot | undefined;
  clock: Clock;
  /** Serve identities that authenticated through the primary at most this long ago. */
  coverageWindowMs: number;
  /** Refuse once the snapshot is older than this. */
  maxStalenessMs: number;
}

/** What the backup can do right now. */
export type Freshness = { serving: true; ageMs: number } | { serving: false; ageMs: number | undefined; reason: string };

/**
 * The directory as the backup sees it: the snapshot in use, within the staleness bound, limited
 * to covered identities. Anything it will not answer for is UNAVAILABLE, so the gateway can tell
 * the caller the primary is needed rather than that the client is unknown.
 */
export class BackupDirectory implements DirectoryView {
  constructor(private readonly opts: BackupDirectoryOptions) {}

  freshness(): Freshness {
    const s = this.opts.snapshot();
    if (s === undefined) return { serving: false, ageMs: undefined, reason: 'no valid snapshot loaded' };
    const ageMs = Math.max(0, this.opts.clock.now() - s.createdAtMs);
    if (ageMs > this.opts.maxStalenessMs) {
      return { serving: false, ageMs, reason: `snapshot is ${Math.round(ageMs / 1000)}s old, over the ${Math.round(this.opts.maxStalenessMs / 1000)}s bound` };
    }
    return { serving: true, ageMs };
  }

  lookup(tenantId: string, clientId: string): Promise<LookupResult> {
    const fresh = this.freshness();
    if (!fresh.serving) return Promise.reject(unavailable('backup-stale', `backup cannot serve: ${fresh.reason}`));
    const s = this.opts.snapshot()!;
    const tenant = s.tenants.get(tenantId);
    const identity = tenant === undefined ? undefined : s.identities.get(identityKey(tenantId, clientId));
    const coverage = identity === undefined ? 'unknown' : coverageOf(identity, this.opts.clock.now(), this.opts.coverageWindowMs);
    if (coverage !== 'covered') {
      return Promise.reject(unavailable('backup-not-covered', `the backup does not serve this client (${coverage}); the primary must`));
    }
    return Promise.resolve({ tenant, identity, dataAgeMs: fresh.ageMs });
  }

  /** Identities that would be served now. */
  coveredCount(): number {
    const s = this.opts.snapshot();
    if (s === undefined) return 0;
    const now = this.opts.clock.now();
    let n = 0;
    for (const i of s.identities.values()) if (coverageOf(i, now, this.opts.coverageWindowMs) === 'covered') n += 1;
    return n;
  }
}
