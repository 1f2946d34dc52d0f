import type Database from 'better-sqlite3';
import { USAGE_PRECISION_MS } from '../../../lib/directory/index.js';

/** One identity seen in one region. */
export interface UsageRecord {
  tenantId: string;
  clientId: string;
  region: string;
  atMs: number;
  /** True for a successful authentication; false for a lookup that only shows interest. */
  authenticated: boolean;
}

/**
 * Per-region usage: which identities a region served or looked up, and when each identity last
 * authenticated. It steers prewarm snapshots; it is not a mutation and has no revision. A newer
 * time is written only once it is at least {@link USAGE_PRECISION_MS} past the stored one (a
 * first use always is), so stored times run up to that much behind the newest use.
 */
export class UsageTable {
  private readonly upsertUsage;
  private readonly touchApp;
  private readonly countApps;
  private readonly allApps;
  private readonly byRegion;
  private readonly byLastAuth;

  constructor(private readonly db: Database.Database) {
    // Only identities that exist are recorded; reports about unknown ones are dropped.
    this.upsertUsage = db.prepare<[{ at: number; tenant: string; client: string; region: string }]>(
      `INSERT INTO usage (tenant_id, client_id, region, last_used_at_ms)
       SELECT tenant_id, client_id, @region, @at FROM apps WHERE tenant_id = @tenant AND client_id = @client
       ON CONFLICT (tenant_id, client_id, region) DO UPDATE SET last_used_at_ms = excluded.last_used_at_ms
       WHERE excluded.last_used_at_ms - last_used_at_ms >= ${USAGE_PRECISION_MS}`,
    );
    this.touchApp = db.prepare<{ at: number; tenant: string; client: string }>(
      `UPDATE apps SET last_authenticated_at_ms = @at
       WHERE tenant_id = @tenant AND client_id = @client
         AND (last_authenticated_at_ms = 0 AND @at > 0 OR @at - last_authenticated_at_ms >= ${USAGE_PRECISION_MS})`,
    );
    this.countApps = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM apps');
    this.allApps = db.prepare<[], KeyRow>('SELECT tenant_id, client_id FROM apps ORDER BY created_at_ms, client_id');
    this.byRegion = db.prepare<[string, number], KeyRow>(
      'SELECT tenant_id, client_id FROM usage WHERE region = ? ORDER BY last_used_at_ms DESC LIMIT ?',
    );
    this.byLastAuth = db.prepare<[number], KeyRow>(
      'SELECT tenant_id, client_id FROM apps ORDER BY last_authenticated_at_ms DESC, created_at_ms DESC LIMIT ?',
    );
  }

  record(records: readonly UsageRecord[]): void {
    this.db.transaction(() => {
      for (const r of records) {
        this.upsertUsage.run({ at: r.atMs, tenant: r.tenantId, client: r.clientId, region: r.region });
        if (r.authenticated) this.touchApp.run({ at: r.atMs, tenant: r.tenantId, client: r.clientId });
      }
    })();
  }

  /** The identities a snapshot for `region` carries, at most `max`. */
  snapshotKeys(region: string, max: number): { tenantId: string; clientId: string }[] {
    let rows: KeyRow[];
    if (this.countApps.get()!.n <= max) rows = this.allApps.all();
    else if (region === '') rows = this.byLastAuth.all(max);
    else rows = this.byRegion.all(region, max);
    return rows.map((r) => ({ tenantId: r.tenant_id, clientId: r.client_id }));
  }
}

interface KeyRow {
  tenant_id: string;
  client_id: string;
}
