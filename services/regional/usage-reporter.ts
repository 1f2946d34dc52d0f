import { UsageEntry } from '../../gen/authmesh/directory/v1/directory.js';
import type { Clock } from '../../lib/clock/index.js';
import { MAX_REQUEST_BYTES } from '../../lib/grpc/index.js';
import { describeFailure, type DirectorySource } from './directory-client.js';
import { cacheKey } from './identity-cache.js';

export interface UsageReporterOptions {
  source: Pick<DirectorySource, 'reportUsage'>;
  region: string;
  clock: Clock;
  /** Most distinct identities held between flushes; newer ones are dropped past it. Default 10000. */
  maxPending?: number;
  /** Most entries sent in one ReportUsage call. Default 1000. */
  batchSize?: number;
  /**
   * Most encoded bytes of entries in one ReportUsage call. Default half of the largest request
   * global accepts ({@link MAX_REQUEST_BYTES}): a call past that limit is refused whole, and
   * 1000 entries of typical ids already take about 85 KB.
   */
  batchBytes?: number;
  /** Deadline of each ReportUsage call, in ms. Default 5000. */
  timeoutMs?: number;
  onEvent?: (event: UsageFlush) => void;
}

/** The outcome of one flush. */
export interface UsageFlush {
  sent: number;
  /** Entries kept for the next flush because global could not be reached. */
  kept: number;
  error?: { code?: string; message: string };
}

/**
 * Tells global which identities this region authenticated, and when last, so that global's
 * per-region usage drives the next prewarm. Recording is synchronous and never waits on global;
 * flushing batches entries and sends them in the background, keeping them for the next flush when
 * global cannot be reached.
 */
export class UsageReporter {
  private pending = new Map<string, UsageEntry>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<UsageFlush> | undefined;
  private dropped = 0;

  constructor(private readonly options: UsageReporterOptions) {}

  /** Identities waiting to be reported. */
  get size(): number {
    return this.pending.size;
  }

  /** Entries not recorded because the pending set was full. */
  get droppedCount(): number {
    return this.dropped;
  }

  /** Records one successful authentication. */
  record(tenantId: string, clientId: string): void {
    const key = cacheKey(tenantId, clientId);
    const authenticatedAtMs = this.options.clock.now();
    const current = this.pending.get(key);
    if (current !== undefined) {
      current.authenticatedAtMs = Math.max(current.authenticatedAtMs, authenticatedAtMs);
      return;
    }
    if (this.pending.size >= (this.options.maxPending ?? 10_000)) {
      this.dropped += 1;
      return;
    }
    this.pending.set(key, { tenantId, clientId, authenticatedAtMs });
  }

  /** Flushes every `intervalMs` until {@link stop}. */
  start(intervalMs = 5000): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and makes a last attempt to send what is pending. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** Sends what is pending; concurrent calls share the flush in progress. */
  flush(): Promise<UsageFlush> {
    this.flushing ??= this.send().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async send(): Promise<UsageFlush> {
    const batch = this.pending;
    this.pending = new Map();
    const entries = [...batch.values()];
    let sent = 0;
    try {
      for (const chunk of batches(entries, this.options.batchSize ?? 1000, this.options.batchBytes ?? MAX_REQUEST_BYTES / 2)) {
        await this.options.source.reportUsage(
          { region: this.options.region, entries: chunk },
          { deadline: Date.now() + (this.options.timeoutMs ?? 5000) },
        );
        sent += chunk.length;
      }
      const result = { sent, kept: 0 };
      if (sent > 0) this.options.onEvent?.(result);
      return result;
    } catch (err) {
      // Put back what was not sent, unless a newer authentication was recorded meanwhile.
      for (const entry of entries.slice(sent)) {
        const key = cacheKey(entry.tenantId, entry.clientId);
        const newer = this.pending.get(key);
        if (newer === undefined) this.pending.set(key, entry);
        else newer.authenticatedAtMs = Math.max(newer.authenticatedAtMs, entry.authenticatedAtMs);
      }
      const result = { sent, kept: entries.length - sent, error: describeFailure(err) };
      this.options.onEvent?.(result);
      return result;
    }
  }
}

/**
 * Consecutive runs of `entries`, each at most `maxCount` entries and `maxBytes` encoded bytes
 * (an entry larger than `maxBytes` on its own still goes, alone).
 */
export function* batches(entries: readonly UsageEntry[], maxCount: number, maxBytes: number): Generator<UsageEntry[]> {
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < entries.length; i += 1) {
    // The entry's own bytes plus its field tag and length prefix inside ReportUsageRequest.
    const size = UsageEntry.encode(entries[i]!).finish().length + 3;
    if (i > start && (i - start >= maxCount || bytes + size > maxBytes)) {
      yield entries.slice(start, i);
      start = i;
      bytes = 0;
    }
    bytes += size;
  }
  if (start < entries.length) yield entries.slice(start);
}
