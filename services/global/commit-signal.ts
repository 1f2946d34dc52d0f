/** How a wait on {@link CommitSignal} ended. */
export type WaitOutcome = 'commit' | 'timeout' | 'aborted';

/**
 * Wakes waiters when a mutation commits. Waiters re-read the change log themselves, so a
 * notification only says "look again": none can be lost between reading and waiting, because
 * Node runs the read and the subscription in one turn.
 */
export class CommitSignal {
  private waiters = new Set<() => void>();

  notify(): void {
    const current = this.waiters;
    this.waiters = new Set();
    for (const wake of current) wake();
  }

  /** Resolves at the next commit, after `timeoutMs`, or when `signal` aborts. */
  wait(timeoutMs: number, signal: AbortSignal): Promise<WaitOutcome> {
    if (signal.aborted) return Promise.resolve('aborted');
    return new Promise((resolve) => {
      const finish = (outcome: WaitOutcome): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.waiters.delete(onCommit);
        resolve(outcome);
      };
      const onCommit = (): void => finish('commit');
      const onAbort = (): void => finish('aborted');
      const timer = setTimeout(() => finish('timeout'), timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(onCommit);
    });
  }

  /** How many are waiting (for tests and metrics). */
  get waiting(): number {
    return this.waiters.size;
  }
}
