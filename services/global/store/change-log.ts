import type Database from 'better-sqlite3';

/** What a change-log entry points at; its current state is read when the change is sent. */
export type ChangeKind = 'identity' | 'identity_removed' | 'tenant' | 'signing_keys';

export interface ChangeEntry {
  revision: number;
  kind: ChangeKind;
  /** Set for identity and tenant changes. */
  tenantId: string;
  /** Set for identity changes. */
  clientId: string;
  committedAtMs: number;
}

interface ChangeRow {
  revision: number;
  kind: ChangeKind;
  tenant_id: string;
  client_id: string;
  committed_at_ms: number;
}

/**
 * The change log: one row per mutation, its AUTOINCREMENT key is the revision. Rows are appended
 * inside the mutation's own transaction, so a revision exists exactly when its change does.
 */
export class ChangeLog {
  private readonly insert;
  private readonly selectAfter;
  private readonly selectHead;
  private readonly selectCompacted;
  private readonly deleteThrough;
  private readonly setCompacted;

  constructor(private readonly db: Database.Database) {
    this.insert = db.prepare<[ChangeKind, string, string, number]>(
      'INSERT INTO change_log (kind, tenant_id, client_id, committed_at_ms) VALUES (?, ?, ?, ?)',
    );
    this.selectAfter = db.prepare<[number, number], ChangeRow>(
      'SELECT * FROM change_log WHERE revision > ? ORDER BY revision LIMIT ?',
    );
    // sqlite_sequence keeps the highest revision ever handed out, even when the log is empty.
    this.selectHead = db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'change_log'");
    this.selectCompacted = db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'compacted_through'");
    this.deleteThrough = db.prepare<[number]>('DELETE FROM change_log WHERE revision <= ?');
    this.setCompacted = db.prepare<[string]>("UPDATE meta SET value = ? WHERE key = 'compacted_through'");
  }

  /** Appends one entry; call inside the mutation's transaction. Returns its revision. */
  append(kind: ChangeKind, tenantId: string, clientId: string, nowMs: number): number {
    return Number(this.insert.run(kind, tenantId, clientId, nowMs).lastInsertRowid);
  }

  /** Entries with a revision greater than `revision`, oldest first, at most `limit`. */
  after(revision: number, limit: number): ChangeEntry[] {
    return this.selectAfter.all(revision, limit).map((r) => ({
      revision: r.revision,
      kind: r.kind,
      tenantId: r.tenant_id,
      clientId: r.client_id,
      committedAtMs: r.committed_at_ms,
    }));
  }

  /** The newest revision handed out (0 before the first mutation). */
  head(): number {
    return this.selectHead.get()?.seq ?? 0;
  }

  /** Entries up to and including this revision are gone; a watch must start at or after it. */
  compactedThrough(): number {
    return Number(this.selectCompacted.get()?.value ?? 0);
  }

  /** Drops every entry but the newest `retain` revisions; returns the new compaction point. */
  compact(retain: number): number {
    return this.db
      .transaction(() => {
        const through = Math.max(this.compactedThrough(), this.head() - retain);
        this.deleteThrough.run(through);
        this.setCompacted.run(String(through));
        return through;
      })
      .immediate();
  }
}
