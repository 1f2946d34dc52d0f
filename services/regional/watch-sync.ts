import type { WatchResponse } from '../../gen/authmesh/directory/v1/directory.js';
import { backoffDelay, realSleep, type BackoffPolicy, type Sleep } from './backoff.js';
import type { ChangeOutcome, DirectoryCache } from './directory-cache.js';
import { describeFailure, isCompacted, type DirectorySource } from './directory-client.js';
import { loadSnapshot, type PrewarmResult } from './prewarm.js';

/** Everything the sync loop does, for logs and metrics. */
export type SyncEvent =
  | { type: 'snapshot-loaded'; reason: 'start' | 'compacted'; result: PrewarmResult }
  | { type: 'snapshot-failed'; error: { code?: string; message: string }; retryInMs: number }
  | { type: 'watch-started'; fromRevision: number }
  | { type: 'watch-ended'; error?: { code?: string; message: string }; retryInMs: number; appliedRevision: number }
  | { type: 'log-compacted'; fromRevision: number }
  | { type: 'change-applied'; revision: number; headRevision: number; outcome: ChangeOutcome }
  | { type: 'caught-up'; revision: number };

export interface WatchSyncOptions {
  source: Pick<DirectorySource, 'watch' | 'getSnapshot'>;
  cache: DirectoryCache;
  region: string;
  /** Reconnect backoff (full jitter). Default base 200 ms, cap 10 s. */
  backoff?: BackoffPolicy;
  /** Source of randomness for the jitter, in [0, 1). Default Math.random. */
  random?: () => number;
  /** Injected so tests run the loop without timers. Default real, unref'd timers. */
  sleep?: Sleep;
  onEvent?: (event: SyncEvent) => void;
}

/** Where the sync stands. */
export interface SyncStatus {
  appliedRevision: number;
  headRevision: number;
  /** head - applied: how many revisions global has that this region has not applied. */
  lag: number;
  /** The revision the next watch will resume from. */
  resumeFrom: number;
  connected: boolean;
  reconnects: number;
  snapshotLoads: number;
}

/**
 * Keeps the cache in step with global: loads a snapshot (prewarm), then watches the change log from
 * the last revision it applied, applying each change in order. On a disconnect it backs off with
 * jitter and resumes; when global has compacted its log past that revision it reloads a snapshot.
 *
 * Several changes may share one revision, so the watch resumes from the last revision known to be
 * complete (a later revision or a heartbeat followed it). Changes carry state, so a change
 * delivered twice is applied twice harmlessly, and none is ever skipped.
 */
export class WatchSync {
  private readonly abort = new AbortController();
  private readonly sleep: Sleep;
  private readonly random: () => number;
  private running: Promise<void> | undefined;
  private resumeFrom = 0;
  private lastSeen = 0;
  private connected = false;
  private reconnects = 0;
  private snapshotLoads = 0;
  private wasBehind = false;

  constructor(private readonly options: WatchSyncOptions) {
    this.sleep = options.sleep ?? realSleep;
    this.random = options.random ?? Math.random;
  }

  /** Starts the loop (once); the promise settles when {@link stop} has ended it. */
  start(): Promise<void> {
    this.running ??= this.run();
    return this.running;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  status(): SyncStatus {
    const { cache } = this.options;
    return {
      appliedRevision: cache.revision,
      headRevision: cache.headRevision,
      lag: cache.lag,
      resumeFrom: this.resumeFrom,
      connected: this.connected,
      reconnects: this.reconnects,
      snapshotLoads: this.snapshotLoads,
    };
  }

  private emit(event: SyncEvent): void {
    this.options.onEvent?.(event);
  }

  private async run(): Promise<void> {
    const { source, cache } = this.options;
    const signal = this.abort.signal;
    let attempt = 0;
    let needSnapshot: 'start' | 'compacted' | undefined = cache.loaded ? undefined : 'start';
    if (cache.loaded) this.resumeFrom = this.lastSeen = cache.revision;
    while (!signal.aborted) {
      if (needSnapshot !== undefined) {
        try {
          const result = await loadSnapshot({ source, cache, region: this.options.region }, { signal });
          this.snapshotLoads += 1;
          this.resumeFrom = this.lastSeen = result.revision;
          this.emit({ type: 'snapshot-loaded', reason: needSnapshot, result });
          needSnapshot = undefined;
        } catch (err) {
          if (signal.aborted) break;
          const retryInMs = backoffDelay(attempt++, this.options.backoff, this.random);
          this.emit({ type: 'snapshot-failed', error: describeFailure(err), retryInMs });
          await this.sleep(retryInMs, signal);
          continue;
        }
      }
      let received = false;
      let failure: unknown;
      this.emit({ type: 'watch-started', fromRevision: this.resumeFrom });
      try {
        await source.watch(
          this.resumeFrom,
          (message) => {
            if (!received) {
              received = true;
              this.connected = true;
            }
            this.onMessage(message);
          },
          signal,
        );
      } catch (err) {
        failure = err;
      }
      this.connected = false;
      if (signal.aborted) break;
      this.reconnects += 1;
      if (received) attempt = 0;
      if (isCompacted(failure)) {
        this.emit({ type: 'log-compacted', fromRevision: this.resumeFrom });
        needSnapshot = 'compacted';
      }
      const retryInMs = backoffDelay(attempt++, this.options.backoff, this.random);
      this.emit({
        type: 'watch-ended',
        ...(failure === undefined ? {} : { error: describeFailure(failure) }),
        retryInMs,
        appliedRevision: cache.revision,
      });
      await this.sleep(retryInMs, signal);
    }
  }

  private onMessage(message: WatchResponse): void {
    const { cache } = this.options;
    const isHeartbeat =
      message.identity === undefined && message.identityRemoved === undefined && message.tenant === undefined && message.signingKeys === undefined;
    if (isHeartbeat) {
      cache.headRevision = Math.max(cache.headRevision, message.headRevision);
      this.resumeFrom = this.lastSeen;
    } else {
      if (message.revision > this.lastSeen) {
        // A later revision arrived, so every change of the previous one has been applied.
        this.resumeFrom = this.lastSeen;
        this.lastSeen = message.revision;
      }
      const outcome = cache.applyChange(message);
      this.emit({ type: 'change-applied', revision: message.revision, headRevision: cache.headRevision, outcome });
    }
    if (cache.revision >= cache.headRevision) {
      cache.markSynced();
      if (this.wasBehind) this.emit({ type: 'caught-up', revision: cache.revision });
      this.wasBehind = false;
    } else {
      this.wasBehind = true;
    }
  }
}
