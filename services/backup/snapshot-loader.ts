import { EventEmitter } from 'node:events';
import { isSnapshotRejected, newestFirst, readSnapshot, type BackupStore, type ExportVerifier } from '../../lib/backup/index.js';
import type { Clock } from '../../lib/clock/index.js';
import { indexSnapshot, type LoadedSnapshot } from './loaded-snapshot.js';

export interface SnapshotLoaderOptions {
  store: BackupStore;
  verifier: ExportVerifier;
  clock: Clock;
}

/** Events of {@link SnapshotLoader}. */
export interface SnapshotLoaderEvents {
  loaded: [snapshot: LoadedSnapshot, ms: number];
  rejected: [name: string, code: string, reason: string];
}

/**
 * Keeps the newest snapshot that verifies. Each check lists the store and tries, newest first,
 * every snapshot newer than the one in use; a rejected one is reported once and never retried
 * (names are never reused), and the one in use stays until a better one verifies.
 */
export class SnapshotLoader extends EventEmitter<SnapshotLoaderEvents> {
  private current: LoadedSnapshot | undefined;
  private readonly rejected = new Map<string, string>();
  private lastRejection = '';
  private checking: Promise<void> | undefined;

  constructor(private readonly opts: SnapshotLoaderOptions) {
    super();
  }

  snapshot(): LoadedSnapshot | undefined {
    return this.current;
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
    const names = newestFirst(await this.opts.store.list());
    for (const name of names) {
      if (this.current !== undefined && name <= this.current.name) return;
      if (this.rejected.has(name)) continue;
      const started = performance.now();
      try {
        const content = readSnapshot(await this.opts.store.get(name), this.opts.verifier);
        if (this.current !== undefined && content.createdAtMs < this.current.createdAtMs) {
          this.reject(name, 'bad-header', `created at ${content.createdAtMs}, before the snapshot in use`);
          continue;
        }
        this.current = indexSnapshot(name, content, this.opts.clock.now());
        this.emit('loaded', this.current, Math.round(performance.now() - started));
        return;
      } catch (err) {
        if (isSnapshotRejected(err)) this.reject(name, err.code, err.message);
        else if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // pruned while we looked
        else this.reject(name, 'unreadable', err instanceof Error ? err.message : String(err));
      }
    }
  }

  private reject(name: string, code: string, reason: string): void {
    this.rejected.set(name, reason);
    this.lastRejection = `${name}: ${code}: ${reason}`;
    this.emit('rejected', name, code, reason);
  }
}
