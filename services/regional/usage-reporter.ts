import { UsageEntry } from '../../gen/authmesh/directory/v1/directory.js';
import type { Clock } from '../../lib/clock/index.js';
import { USAGE_PRECISION_MS } from '../../lib/directory/index.js';
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
  /**
   * An identity reported is reported again only once its newest authentication is this many ms
   * past the reported one. Default {@link USAGE_PRECISION_MS}; 0 reports every flush's uses.
   */
  precisionMs?: number;
  /** Most identities remembered as recently reported; past it they are simply reported again. Default 100000. */
  maxRemembered?: number;
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
 * global cannot be reached. An identity reported less than `precisionMs` ago is not reported
 * again until its uses are that much newer, so steady traffic costs global one write per active
 * identity and minute, not one per report.
 */
export class UsageReporter {
  private pending = new Map<string, UsageEntry>();
  /** Identities reported lately, with the authentication time reported. */
  private readonly reported = new Map<string, number>();
  private readonly precisionMs: number;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<UsageFlush> | undefined;
  private dropped = 0;

  constructor(private readonly options: UsageReporterOptions) {
    this.precisionMs = options.precisionMs ?? USAGE_PRECISION_MS;
    if (!Number.isFinite(this.precisionMs) || this.precisionMs < 0) throw new RangeError('precisionMs must be a non-negative number of ms');
  }

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
    const reportedAt = this.reported.get(key);
    if (reportedAt !== undefined && authenticatedAtMs - reportedAt < this.precisionMs) return;
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
    // Forget what is old enough to be reported again anyway: the map holds recent identities only.
    const now = this.options.clock.now();
    for (const [key, at] of this.reported) if (now - at >= this.precisionMs) this.reported.delete(key);
    let sent = 0;
    try {
      for (const chunk of batches(entries, this.options.batchSize ?? 1000, this.options.batchBytes ?? MAX_REQUEST_BYTES / 2)) {
        await this.options.source.reportUsage(
          { region: this.options.region, entries: chunk },
          { deadline: Date.now() + (this.options.timeoutMs ?? 5000) },
        );
        sent += chunk.length;
        if (this.precisionMs > 0) this.remember(chunk);
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

  private remember(sent: readonly UsageEntry[]): void {
    const max = this.options.maxRemembered ?? 100_000;
    for (const e of sent) {
      const key = cacheKey(e.tenantId, e.clientId);
      if (this.reported.size < max || this.reported.has(key)) this.reported.set(key, e.authenticatedAtMs);
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
