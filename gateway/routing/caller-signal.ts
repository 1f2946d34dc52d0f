/** How routing and the transports learn that the caller went away. */

/**
 * What the failover loop and the domain transports need from "the caller went away": a flag and
 * an abort listener. An AbortSignal is one; {@link CallerGone} is a lighter one for the gRPC front,
 * which would otherwise build an AbortController, an EventTarget and a listener per call only to
 * drop them unused when the call ends normally.
 */
export interface CallerSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** A {@link CallerSignal} that fires its listeners once, on {@link CallerGone.abort}. */
export class CallerGone implements CallerSignal {
  aborted = false;
  private listeners: (() => void)[] | undefined;

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return;
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.listeners?.indexOf(listener) ?? -1;
    if (at >= 0) this.listeners!.splice(at, 1);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener();
  }
}
