import type { AcquireTokenRequest, AcquireTokenResponse } from '../../gen/authmesh/token/v1/token.js';
import { MeshUnavailableError, TokenRefusedError } from '../../client/errors.js';
import type { TokenTransport, TransportCallOptions } from '../../client/token-transport.js';

export type FakeMode = 'ok' | 'unavailable' | 'refuse' | 'hold';

/**
 * A TokenTransport that answers on command: issues numbered tokens, fails as if the mesh were
 * down, refuses, or holds every request until {@link release}. Records every request.
 */
export class FakeTokenTransport implements TokenTransport {
  mode: FakeMode = 'ok';
  expiresIn = 3600;
  refreshIn = 1800;
  faultDomain = 'regional/eastus';
  readonly requests: AcquireTokenRequest[] = [];
  private held: Array<() => void> = [];
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  private issued = 0;

  acquireToken(request: AcquireTokenRequest, _options: TransportCallOptions): Promise<AcquireTokenResponse> {
    this.requests.push(request);
    this.waiters = this.waiters.filter((w) => (this.requests.length >= w.n ? (w.resolve(), false) : true));
    switch (this.mode) {
      case 'unavailable':
        return Promise.reject(new MeshUnavailableError('no gateway could issue a token (fake UNAVAILABLE)', [{ endpoint: 'fake', status: 'UNAVAILABLE', details: 'down' }]));
      case 'refuse':
        return Promise.reject(new TokenRefusedError('refused: invalid_client', 'invalid_client', 'UNAUTHENTICATED'));
      case 'hold':
        return new Promise((resolve) => this.held.push(() => resolve(this.response())));
      default:
        return Promise.resolve(this.response());
    }
  }

  getJwks(): Promise<string> {
    return Promise.resolve('{"keys":[]}');
  }

  /** Resolves once `n` requests have arrived (assertions are signed asynchronously). */
  waitForRequests(n: number): Promise<void> {
    if (this.requests.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  /** Answers every held request. */
  release(): void {
    const held = this.held;
    this.held = [];
    for (const r of held) r();
  }

  close(): void {}

  private response(): AcquireTokenResponse {
    this.issued += 1;
    return { accessToken: `token-${this.issued}`, tokenType: 'Bearer', expiresIn: this.expiresIn, refreshIn: this.refreshIn, faultDomain: this.faultDomain };
  }
}

/** Lets every settled promise callback run (no timers involved). */
export const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i += 1) await new Promise((r) => setImmediate(r));
};
