import type { BackupStore, ExportSigner, ExportVerifier, SnapshotHeader } from '../../lib/backup/index.js';
import { encodeSnapshot, exportVerifierFromPem, isSnapshotRejected, parseSnapshotName, snapshotName, verifySnapshot } from '../../lib/backup/index.js';
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
 * and prunes all but the newest `keep`, newest by the signed header (a file planted under a high
 * name neither takes a place nor pushes real snapshots out; one that does not verify is removed). Exports never overlap: a request during one waits for it
 * and then runs its own, so the answer is at least as new as the request.
 */
export class BackupExporter {
  private readonly keep: number;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private verifier: ExportVerifier | undefined;
  /** Signed headers of the snapshots verified so far, by name (each file is read once). */
  private readonly headers = new Map<string, Pick<SnapshotHeader, 'revision' | 'createdAtMs'>>();

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
    this.headers.set(name, { revision: state.revision, createdAtMs });
    await this.prune();
    const result = { revision: state.revision, name, identities: state.identities.length, bytes: data.length, ms: Math.round(performance.now() - started) };
    this.opts.log.info(result, 'backup snapshot exported');
    return result;
  }

  private async prune(): Promise<void> {
    const store = this.opts.backupStore;
    this.verifier ??= await exportVerifierFromPem(this.opts.signer.publicKeyPem);
    const names = (await store.list()).filter((n) => parseSnapshotName(n) !== undefined);
    for (const name of this.headers.keys()) if (!names.includes(name)) this.headers.delete(name);
    for (const name of names) {
      if (this.headers.has(name)) continue;
      try {
        const { header } = verifySnapshot(await store.get(name), this.verifier);
        this.headers.set(name, { revision: header.revision, createdAtMs: header.createdAtMs });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        if (!isSnapshotRejected(err)) throw err;
        this.opts.log.warn({ snapshot: name, code: err.code, reason: err.message }, 'removing a backup snapshot that does not verify');
        await store.delete(name);
      }
    }
    const newest = [...this.headers].sort(([, a], [, b]) => b.revision - a.revision || b.createdAtMs - a.createdAtMs);
    for (const [old] of newest.slice(this.keep)) {
      await store.delete(old);
      this.headers.delete(old);
    }
  }
}
