/** The gateway-wide limit of token calls in flight, and a forwarder that refuses past it. */
import { toStatus } from '../../lib/grpc/index.js';
import { overloaded } from '../../lib/errors/index.js';
import type { Forwarder } from './forwarder.js';

/**
 * The gateway's one count of token calls in flight (`--max-in-flight`), shared by every front
 * (gRPC and HTTPS), so no front can take the whole process past it.
 */
export class InFlightLimit {
  private n = 0;

  constructor(readonly max: number = Infinity) {}

  get count(): number {
    return this.n;
  }

  /** Takes a slot; false (and nothing taken) when all are in use. */
  tryEnter(): boolean {
    if (this.n >= this.max) return false;
    this.n += 1;
    return true;
  }

  leave(): void {
    this.n -= 1;
  }
}

/** `inner` behind `limit`: past it, RESOURCE_EXHAUSTED `temporarily_unavailable` (overloaded) at once. */
export function limitedForwarding(inner: Forwarder, limit: InFlightLimit): Forwarder {
  return {
    async forward(req) {
      if (!limit.tryEnter()) {
        const s = toStatus(overloaded('gateway saturated; retry with backoff'));
        return { ok: false, code: s.code, details: s.details, trailers: s.metadata, attempts: 0 };
      }
      try {
        return await inner.forward(req);
      } finally {
        limit.leave();
      }
    },
  };
}
