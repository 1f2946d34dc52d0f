import type { BackupStore, ExportSigner } from '../../lib/backup/index.js';
import { encodeSnapshot, newestFirst, snapshotName } from '../../lib/backup/index.js';
import type { Clock } from '../../lib/clock/index.js';
import type { Logger } from '../../lib/log/index.js';
import type { DirectoryStore } from './store/store.js';

export interface BackupExporterOptions {
  store: DirectoryStore;
  backupStore: BackupStore;
  signer: ExportSigner;
  clock: Clock;
  log: Logger;
  /** Snapshots kept in the backup store, newest first (default 5). */
  keep?: number;
  /** Time between exports in ms; 0 exports only on demand (default 30 s). */
  intervalMs?: number;
  /**
   * Claims (or renews) the right to make the timed exports for `ttlMs`; false when another
   * instance holds it. Absent: this instance always exports. On-demand exports never ask.
   */
  lease?: (ttlMs: number) => Promise<boolean>;
}

export interface ExportResult {
  revision: number;
  name: string;
  identities: number;
  bytes: number;
  ms: number;
}

/**
 * Writes signed snapshots of the whole directory to the backup store, on a timer and on demand,
 * and prunes all but the newest `keep`. Exports never overlap: a request during one waits for it
 * and then runs its own, so the answer is at least as new as the request.
 */
export class BackupExporter {
  private readonly keep: number;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: BackupExporterOptions) {
    this.keep = Math.max(1, opts.keep ?? 5);
  }

  start(): void {
    const interval = this.opts.intervalMs ?? 30_000;
    if (interval <= 0 || this.timer !== undefined) return;
    // Held for two intervals and a bit: a holder that dies hands over within that.
    const ttlMs = 2 * interval + 5000;
    const tick = (): void => {
      const lease = this.opts.lease;
      (lease === undefined ? Promise.resolve(true) : lease(ttlMs))
        .then((mine) => (mine ? this.exportNow() : undefined))
        .catch((err: unknown) => this.opts.log.error({ err }, 'backup export failed'));
    };
    tick();
    this.timer = setInterval(tick, interval);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  exportNow(): Promise<ExportResult> {
    const run = this.chain.then(() => this.exportOnce(), () => this.exportOnce());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async exportOnce(): Promise<ExportResult> {
    const started = performance.now();
    const state = await this.opts.store.exportState();
    const createdAtMs = this.opts.clock.now();
    const data = encodeSnapshot({ ...state, createdAtMs }, this.opts.signer);
    const name = snapshotName(state.revision, createdAtMs);
    await this.opts.backupStore.put(name, data);
    const names = newestFirst(await this.opts.backupStore.list());
    for (const old of names.slice(this.keep)) await this.opts.backupStore.delete(old);
    const result = { revision: state.revision, name, identities: state.identities.length, bytes: data.length, ms: Math.round(performance.now() - started) };
    this.opts.log.info(result, 'backup snapshot exported');
    return result;
  }
}
