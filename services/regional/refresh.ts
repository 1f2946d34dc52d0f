import type { DirectoryCache } from './directory-cache.js';
import { describeFailure, type DirectorySource } from './directory-client.js';
import type { CacheEntry } from './identity-cache.js';

export interface RefreshOptions {
  cache: DirectoryCache;
  source: Pick<DirectorySource, 'lookupIdentity'>;
  region: string;
  /** Entries are revalidated before their data is this old, in ms. */
  ttlMs: number;
  /** Revalidate once an entry's age passes this fraction of the TTL. Default 0.75. */
  refreshAt?: number;
  /** Most entries revalidated per round. Default 256. */
  batchSize?: number;
  /** Lookups in flight at once. Default 4. */
  concurrency?: number;
  /** Deadline of each lookup, in ms. Default 3000. */
  timeoutMs?: number;
  onEvent?: (event: RefreshRound) => void;
}

/** The outcome of one refresh round. */
export interface RefreshRound {
  /** Entries that were due. */
  due: number;
  refreshed: number;
  /** True when global could not be reached; the remaining entries keep serving as they are. */
  globalUnreachable: boolean;
  error?: { code?: string; message: string };
}

/**
 * Revalidates cached identities against global before their data gets old. The watch normally
 * keeps every entry current (then nothing is due); this catches what it cannot, such as a long
 * disconnect. While global is unreachable a round stops at the first failure and entries keep
 * serving: regional isolation is the point. The next round retries, so refresh resumes by itself.
 */
export class Refresher {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<RefreshRound> | undefined;

  constructor(private readonly options: RefreshOptions) {}

  /** Runs a round every `intervalMs` (default a quarter of the TTL) until {@link stop}. */
  start(intervalMs = Math.max(1000, Math.floor(this.options.ttlMs / 4))): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      if (this.round === undefined) void this.runOnce();
    }, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.round;
  }

  /** Entries whose data is old enough to revalidate, oldest first. Negative entries expire instead. */
  dueEntries(): CacheEntry[] {
    const { cache } = this.options;
    const threshold = this.options.ttlMs * (this.options.refreshAt ?? 0.75);
    const due: Array<{ entry: CacheEntry; age: number }> = [];
    for (const entry of cache.identities.values()) {
      if (entry.identity === undefined) continue;
      const age = cache.ageOf(entry);
      if (age >= threshold) due.push({ entry, age });
    }
    due.sort((a, b) => b.age - a.age);
    return due.slice(0, this.options.batchSize ?? 256).map((d) => d.entry);
  }

  /** One round; concurrent calls share the round in progress. */
  runOnce(): Promise<RefreshRound> {
    this.round ??= this.refresh().finally(() => {
      this.round = undefined;
    });
    return this.round;
  }

  private async refresh(): Promise<RefreshRound> {
    const { cache, source, region } = this.options;
    const queue = this.dueEntries();
    const result: RefreshRound = { due: queue.length, refreshed: 0, globalUnreachable: false };
    const worker = async (): Promise<void> => {
      for (let entry = queue.shift(); entry !== undefined && !result.globalUnreachable; entry = queue.shift()) {
        try {
          const answer = await source.lookupIdentity(
            { tenantId: entry.tenantId, clientId: entry.clientId, region },
            { deadline: Date.now() + (this.options.timeoutMs ?? 3000) },
          );
          cache.applyLookup(entry.tenantId, entry.clientId, answer);
          result.refreshed += 1;
        } catch (err) {
          result.globalUnreachable = true;
          result.error = describeFailure(err);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.options.concurrency ?? 4) }, worker));
    this.options.onEvent?.(result);
    return result;
  }
}
