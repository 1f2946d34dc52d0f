import { EventEmitter } from 'node:events';
import { isSnapshotRejected, parseSnapshotName, readSnapshot, verifySnapshot, type BackupStore, type ExportVerifier } from '../../lib/backup/index.js';
import type { Clock } from '../../lib/clock/index.js';
import { isOlder, newestPositionFirst, type AcceptedSnapshotRecord, type SnapshotPosition } from './accepted-snapshot.js';
import { indexSnapshot, type LoadedSnapshot } from './loaded-snapshot.js';

export interface SnapshotLoaderOptions {
  store: BackupStore;
  verifier: ExportVerifier;
  clock: Clock;
  /**
   * The newest position ever accepted, kept across restarts; nothing older is loaded. Without it
   * the floor is the snapshot in use only (tests of the loader alone).
   */
  accepted?: AcceptedSnapshotRecord;
}

/** Events of {@link SnapshotLoader}. */
export interface SnapshotLoaderEvents {
  loaded: [snapshot: LoadedSnapshot, ms: number];
  rejected: [name: string, code: string, reason: string];
  /** The accepted position could not be recorded; the snapshot is served anyway (it is newer). */
  unrecorded: [name: string, err: unknown];
}

/**
 * Keeps the newest snapshot that verifies, ordered by the revision and time inside its signed
 * header, never by its file name (anyone who can write to the store can pick a name). Each check
 * lists the store, verifies every name not seen before (each once: a rejected one is reported once
 * and never retried), and loads the newest verified snapshot that is newer than both the one in use
 * and the newest ever accepted. The accepted position is recorded durably before it is served, so
 * an older snapshot (which would bring back revoked credentials) is refused after a restart too.
 */
export class SnapshotLoader extends EventEmitter<SnapshotLoaderEvents> {
  private current: LoadedSnapshot | undefined;
  private floor: SnapshotPosition | undefined;
  /** Signed positions of the names that verified, by name. */
  private readonly verified = new Map<string, SnapshotPosition>();
  private readonly rejected = new Map<string, string>();
  private lastRejection = '';
  private checking: Promise<void> | undefined;

  constructor(private readonly opts: SnapshotLoaderOptions) {
    super();
    this.floor = opts.accepted?.read();
  }

  snapshot(): LoadedSnapshot | undefined {
    return this.current;
  }

  /** The newest position ever accepted (recorded across restarts when `accepted` is set). */
  acceptedPosition(): SnapshotPosition | undefined {
    return this.floor;
  }

  /** `<name>: <reason>` of the newest rejection, or ''. */
  lastRejected(): string {
    return this.lastRejection;
  }

  /** Checks the store once; concurrent calls share one check. */
  check(): Promise<void> {
    this.checking ??= this.checkOnce().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async checkOnce(): Promise<void> {
    // The load time reported covers the whole check: verifying new names and loading the newest.
    const started = performance.now();
    const names = (await this.opts.store.list()).filter((n) => parseSnapshotName(n) !== undefined);
    const listed = new Set(names);
    // Pruned names are forgotten, so the maps stay as small as the store.
    for (const name of this.verified.keys()) if (!listed.has(name)) this.verified.delete(name);
    for (const name of this.rejected.keys()) if (!listed.has(name)) this.rejected.delete(name);
    // The bytes of the newest snapshot verified in this pass are kept for loading, so a new
    // snapshot is read from the store once.
    let newest: { name: string; at: SnapshotPosition; data: Buffer } | undefined;
    for (const name of names) {
      if (this.verified.has(name) || this.rejected.has(name)) continue;
      await this.attempt(name, async () => {
        const data = await this.opts.store.get(name);
        const { header } = verifySnapshot(data, this.opts.verifier);
        const at = { revision: header.revision, createdAtMs: header.createdAtMs };
        this.verified.set(name, at);
        if (newest === undefined || isOlder(newest.at, at)) newest = { name, at, data };
      });
    }
    const candidates = [...this.verified].map(([name, at]) => ({ name, ...at })).sort(newestPositionFirst);
    for (const c of candidates) {
      if (this.floor !== undefined && isOlder(c, this.floor)) break;
      if (this.current !== undefined && !isOlder(this.current, c)) break;
      const loaded = await this.attempt(c.name, async () => {
        // Verified again as it is decoded: the bytes served are the bytes checked now.
        const data = newest?.name === c.name ? newest.data : await this.opts.store.get(c.name);
        newest = undefined;
        const content = readSnapshot(data, this.opts.verifier);
        if (this.floor !== undefined && isOlder(content, this.floor)) {
          throw new RolledBack(content, this.floor);
        }
        this.record(c.name, content);
        this.current = indexSnapshot(c.name, content, this.opts.clock.now());
        this.emit('loaded', this.current, Math.round(performance.now() - started));
      });
      if (loaded) break;
    }
    this.reportRollbacks(candidates);
  }

  /**
   * Verified snapshots below the floor are ordinary older exports when their names say so; one whose
   * name claims to be newer, or any when nothing can be served, is a rollback and is reported once.
   */
  private reportRollbacks(candidates: readonly (SnapshotPosition & { name: string })[]): void {
    const floor = this.floor;
    if (floor === undefined) return;
    for (const c of candidates) {
      if (!isOlder(c, floor) || this.rejected.has(c.name)) continue;
      const claimed = parseSnapshotName(c.name);
      if (this.current === undefined || (claimed !== undefined && !isOlder(claimed, floor))) {
        this.verified.delete(c.name);
        const e = new RolledBack(c, floor);
        this.reject(c.name, 'rolled-back', e.message);
      }
    }
  }

  private record(name: string, at: SnapshotPosition): void {
    this.floor = { revision: at.revision, createdAtMs: at.createdAtMs };
    try {
      this.opts.accepted?.write(this.floor);
    } catch (err) {
      this.emit('unrecorded', name, err);
    }
  }

  /** Runs one step on a snapshot; a refusal is recorded as a rejection. False when it failed. */
  private async attempt(name: string, step: () => Promise<void>): Promise<boolean> {
    try {
      await step();
      return true;
    } catch (err) {
      this.verified.delete(name);
      if (err instanceof RolledBack) this.reject(name, 'rolled-back', err.message);
      else if (isSnapshotRejected(err)) this.reject(name, err.code, err.message);
      else if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false; // pruned while we looked
      else this.reject(name, 'unreadable', err instanceof Error ? err.message : String(err));
      return false;
    }
  }

  private reject(name: string, code: string, reason: string): void {
    this.rejected.set(name, reason);
    this.lastRejection = `${name}: ${code}: ${reason}`;
    this.emit('rejected', name, code, reason);
  }
}

class RolledBack extends Error {
  constructor(at: SnapshotPosition, floor: SnapshotPosition) {
    super(`signed revision ${at.revision} (created ${at.createdAtMs}) is older than the accepted revision ${floor.revision} (created ${floor.createdAtMs})`);
  }
}
