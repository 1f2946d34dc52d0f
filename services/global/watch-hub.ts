import { once } from 'node:events';
import { status, type ServerWritableStream } from '@grpc/grpc-js';
import type { WatchRequest, WatchResponse } from '../../gen/authmesh/directory/v1/directory.js';
import type { Logger } from '../../lib/log/index.js';
import { CommitSignal } from './commit-signal.js';
import { isDirectoryError } from './store/directory-error.js';
import type { ChangeEntry, DirectoryStore } from './store/store.js';

export interface WatchHubOptions {
  store: DirectoryStore;
  log: Logger;
  /** A heartbeat carrying the head revision goes out after this long without a message. */
  heartbeatMs: number;
  /** Changes read from the log per step (default 256). */
  batchSize?: number;
}

type WatchCall = ServerWritableStream<WatchRequest, WatchResponse>;

/**
 * Serves the change feed. Each watch replays the log after its `from_revision`, then follows new
 * commits; replay and live are the same loop (read after the cursor, send, wait), so a change
 * committed during replay can be neither skipped nor sent twice. Each change carries the current
 * state of what it touched, so a receiver applies it idempotently.
 */
export class WatchHub {
  private readonly signal = new CommitSignal();
  private readonly active = new Map<WatchCall, AbortController>();
  private readonly unsubscribe: () => void;

  constructor(private readonly options: WatchHubOptions) {
    this.unsubscribe = options.store.onCommit(() => this.signal.notify());
  }

  /** Handles one Watch call until the caller goes away or the hub closes. */
  serve(call: WatchCall): void {
    const abort = new AbortController();
    this.active.set(call, abort);
    const stop = (): void => abort.abort();
    call.once('cancelled', stop);
    call.once('close', stop);
    this.pump(call, abort.signal)
      .catch((err: unknown) => {
        if (isDirectoryError(err) && err.code === 'unavailable') {
          // The store is unreachable from here: the caller resumes from its cursor, here or elsewhere.
          this.options.log.warn({ err: err.message }, 'watch stream ended: directory store unavailable');
          if (!abort.signal.aborted) call.emit('error', { code: status.UNAVAILABLE, details: err.message });
          return;
        }
        this.options.log.error({ err }, 'watch stream failed');
        if (!abort.signal.aborted) call.emit('error', { code: status.INTERNAL, details: 'internal error' });
      })
      .finally(() => this.active.delete(call));
  }

  /** Ends every watch with UNAVAILABLE so callers reconnect elsewhere or later. */
  close(): void {
    this.unsubscribe();
    for (const [call, abort] of this.active) {
      abort.abort();
      call.emit('error', { code: status.UNAVAILABLE, details: 'server shutting down' });
    }
    this.active.clear();
  }

  get watchers(): number {
    return this.active.size;
  }

  private async pump(call: WatchCall, aborted: AbortSignal): Promise<void> {
    const { store } = this.options;
    const batchSize = this.options.batchSize ?? 256;
    let cursor = call.request.fromRevision;
    const head = await store.head();
    if (cursor > head) return refuse(call, `from_revision ${cursor} is ahead of the head revision ${head}; reload a snapshot`);
    let caughtUp = false;
    while (!aborted.aborted) {
      const compacted = await store.compactedThrough();
      if (cursor < compacted) {
        return refuse(call, `change log compacted through revision ${compacted}; from_revision ${cursor} is too old, reload a snapshot`);
      }
      const changes = await store.changesAfter(cursor, batchSize);
      const headRevision = changes.length === 0 ? cursor : Math.max(await store.head(), changes[changes.length - 1]!.revision);
      for (const change of changes) {
        if (aborted.aborted) return;
        if (!call.write(await this.toResponse(change, headRevision))) await drained(call, aborted);
        cursor = change.revision;
      }
      if (changes.length === batchSize) continue;
      if (!caughtUp) {
        // Tells the caller the replay is done and how far the head is.
        caughtUp = true;
        call.write({ revision: cursor, headRevision: Math.max(cursor, headRevision) });
      }
      if (changes.length > 0) continue;
      await this.waitForCommit(call, cursor, aborted);
    }
  }

  /**
   * Waits for a commit after `cursor`, sending a heartbeat when none comes in time. The wait is
   * subscribed before the head is read again, so a commit that lands while that read is in
   * flight (from this instance or another one on the store) is not missed.
   */
  private async waitForCommit(call: WatchCall, cursor: number, aborted: AbortSignal): Promise<void> {
    const { store, heartbeatMs } = this.options;
    const stop = new AbortController();
    const onAbort = (): void => stop.abort();
    aborted.addEventListener('abort', onAbort, { once: true });
    try {
      const next = this.signal.wait(heartbeatMs, stop.signal);
      if ((await store.head()) > cursor) return;
      const outcome = await next;
      if (outcome === 'timeout' && (await store.head()) === cursor) call.write({ revision: cursor, headRevision: cursor });
    } finally {
      stop.abort();
      aborted.removeEventListener('abort', onAbort);
    }
  }

  private async toResponse(change: ChangeEntry, headRevision: number): Promise<WatchResponse> {
    const { store } = this.options;
    const base = { revision: change.revision, headRevision };
    switch (change.kind) {
      case 'identity': {
        const identity = await store.identity(change.tenantId, change.clientId);
        return identity === undefined
          ? { ...base, identityRemoved: { tenantId: change.tenantId, clientId: change.clientId } }
          : { ...base, identity };
      }
      case 'identity_removed':
        return { ...base, identityRemoved: { tenantId: change.tenantId, clientId: change.clientId } };
      case 'tenant':
        return { ...base, tenant: (await store.tenant(change.tenantId)) ?? { tenantId: change.tenantId, name: '', resources: [] } };
      case 'signing_keys':
        return { ...base, signingKeys: { keys: await store.signingKeys() } };
    }
  }
}

function refuse(call: WatchCall, details: string): void {
  call.emit('error', { code: status.OUT_OF_RANGE, details });
}

async function drained(call: WatchCall, aborted: AbortSignal): Promise<void> {
  try {
    await once(call, 'drain', { signal: aborted });
  } catch {
    // Aborted: the caller is gone; the loop sees it next.
  }
}
