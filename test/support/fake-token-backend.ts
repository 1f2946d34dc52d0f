import { Metadata, status } from '@grpc/grpc-js';
import { backendError, type BackendCallOptions, type BackendReply, type TokenBackend } from '../../gateway/routing/token-backend.js';
import type { TokenMethod } from '../../gateway/pass-through.js';

/** What a {@link FakeTokenBackend} does with the next calls. */
export type FakeMode =
  | { kind: 'answer'; trailers?: Record<string, string> }
  | { kind: 'fail'; code: status; details?: string; trailers?: Record<string, string> }
  /** Never answers until {@link FakeTokenBackend.release} or the caller aborts. */
  | { kind: 'stall' };

interface Pending {
  resolve: (r: BackendReply) => void;
  reject: (e: unknown) => void;
}

const toMetadata = (t: Record<string, string> = {}): Metadata => {
  const md = new Metadata();
  for (const [k, v] of Object.entries(t)) md.set(k, v);
  return md;
};

/**
 * A fault domain in memory that answers, fails or stalls on command. The answer bytes are the
 * domain name, so tests can see who answered without decoding anything.
 */
export class FakeTokenBackend implements TokenBackend {
  readonly calls: { method: TokenMethod; bytes: Buffer; options: BackendCallOptions }[] = [];
  private mode: FakeMode = { kind: 'answer' };
  private readonly pending = new Set<Pending>();
  closed = false;

  constructor(
    readonly name: string,
    readonly address = `fake://${name}`,
  ) {}

  set(mode: FakeMode): this {
    this.mode = mode;
    return this;
  }

  get stalled(): number {
    return this.pending.size;
  }

  call(method: TokenMethod, bytes: Buffer, options: BackendCallOptions): Promise<BackendReply> {
    this.calls.push({ method, bytes, options });
    const mode = this.mode;
    switch (mode.kind) {
      case 'answer':
        return Promise.resolve({ bytes: Buffer.from(this.name), trailers: toMetadata(mode.trailers) });
      case 'fail':
        return Promise.reject(backendError(mode.code, mode.details ?? `${this.name} says ${status[mode.code]}`, toMetadata(mode.trailers)));
      case 'stall':
        return new Promise<BackendReply>((resolve, reject) => {
          const p: Pending = { resolve, reject };
          this.pending.add(p);
          options.signal?.addEventListener('abort', () => {
            if (!this.pending.delete(p)) return;
            const e = backendError(status.CANCELLED, 'cancelled by the caller');
            e.callerCancelled = true;
            reject(e);
          });
        });
    }
  }

  /** Ends every stalled call: with an answer, or with the given status. */
  release(code?: status): void {
    for (const p of this.pending) {
      if (code === undefined) p.resolve({ bytes: Buffer.from(this.name), trailers: new Metadata() });
      else p.reject(backendError(code, `${this.name} released with ${status[code]}`));
    }
    this.pending.clear();
  }

  close(): void {
    this.closed = true;
  }
}
