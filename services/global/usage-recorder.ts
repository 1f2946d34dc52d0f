import type { Logger } from '../../lib/log/index.js';
import type { DirectoryStore, UsageRecord } from './store/store.js';

export interface UsageRecorderOptions {
  store: DirectoryStore;
  log: Logger;
  /** How often pending usage is written (default 1000 ms). */
  flushIntervalMs?: number;
  /** Most distinct (identity, region) pairs held between flushes; more are dropped (default 100000). */
  maxPending?: number;
}

/**
 * Collects usage off the token path and writes it in one transaction per interval. Usage steers
 * prewarm and reporting only; losing the last second of it in a crash is acceptable, which is
 * why it is not written synchronously like an admin mutation.
 */
export class UsageRecorder {
  private pending = new Map<string, UsageRecord>();
  private timer: NodeJS.Timeout | undefined;
  private dropped = 0;
  private flushing: Promise<void> = Promise.resolve();

  constructor(private readonly options: UsageRecorderOptions) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.flush(), this.options.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** Notes one use; the newest time per identity and region wins. */
  record(record: UsageRecord): void {
    const key = `${record.tenantId}\n${record.clientId}\n${record.region}`;
    const previous = this.pending.get(key);
    if (previous === undefined && this.pending.size >= (this.options.maxPending ?? 100_000)) {
      this.dropped += 1;
      return;
    }
    this.pending.set(key, {
      ...record,
      atMs: Math.max(record.atMs, previous?.atMs ?? 0),
      authenticated: record.authenticated || (previous?.authenticated ?? false),
    });
  }

  /** Writes everything pending now; flushes never overlap. */
  flush(): Promise<void> {
    const run = this.flushing.then(() => this.flushOnce());
    this.flushing = run;
    return run;
  }

  /** Stops the timer and writes what is pending. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private async flushOnce(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    try {
      await this.options.store.recordUsage(batch);
    } catch (err) {
      this.options.log.warn({ err, entries: batch.length }, 'could not record usage');
    }
    if (this.dropped > 0) {
      this.options.log.warn({ dropped: this.dropped }, 'usage entries dropped: too many pending');
      this.dropped = 0;
    }
  }
}
