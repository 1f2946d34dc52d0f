import { once } from 'node:events';
import { status, type ServerWritableStream } from '@grpc/grpc-js';
import type { WatchRequest, WatchResponse } from '../../gen/authmesh/directory/v1/directory.js';
import type { Logger } from '../../lib/log/index.js';
import { CommitSignal } from './commit-signal.js';
import type { ChangeEntry } from './store/change-log.js';
import type { DirectoryStore } from './store/directory-store.js';

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
    const { store, heartbeatMs } = this.options;
    const batchSize = this.options.batchSize ?? 256;
    let cursor = call.request.fromRevision;
    const head = store.log.head();
    if (cursor > head) return refuse(call, `from_revision ${cursor} is ahead of the head revision ${head}; reload a snapshot`);
    let caughtUp = false;
    while (!aborted.aborted) {
      const compacted = store.log.compactedThrough();
      if (cursor < compacted) {
        return refuse(call, `change log compacted through revision ${compacted}; from_revision ${cursor} is too old, reload a snapshot`);
      }
      const changes = store.changesAfter(cursor, batchSize);
      for (const change of changes) {
        if (aborted.aborted) return;
        if (!call.write(this.toResponse(change, store.log.head()))) await drained(call, aborted);
        cursor = change.revision;
      }
      if (changes.length === batchSize) continue;
      if (!caughtUp) {
        // Tells the caller the replay is done and how far the head is.
        caughtUp = true;
        call.write({ revision: cursor, headRevision: store.log.head() });
      }
      const outcome = await this.signal.wait(heartbeatMs, aborted);
      if (outcome === 'timeout' && store.log.head() === cursor) call.write({ revision: cursor, headRevision: cursor });
    }
  }

  private toResponse(change: ChangeEntry, headRevision: number): WatchResponse {
    const { store } = this.options;
    const base = { revision: change.revision, headRevision };
    switch (change.kind) {
      case 'identity': {
        const identity = store.identity(change.tenantId, change.clientId);
        return identity === undefined
          ? { ...base, identityRemoved: { tenantId: change.tenantId, clientId: change.clientId } }
          : { ...base, identity };
      }
      case 'identity_removed':
        return { ...base, identityRemoved: { tenantId: change.tenantId, clientId: change.clientId } };
      case 'tenant':
        return { ...base, tenant: store.tenant(change.tenantId) ?? { tenantId: change.tenantId, name: '', resources: [] } };
      case 'signing_keys':
        return { ...base, signingKeys: { keys: store.signingKeys() } };
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
