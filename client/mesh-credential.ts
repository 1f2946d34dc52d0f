import { systemClock, type Clock } from '../lib/clock/index.js';
import type { GatewayTlsOptions } from './gateway-tls.js';
import type { AcquireTokenRequest } from '../gen/authmesh/token/v1/token.js';
import { deadlineMs, type AccessToken, type GetTokenOptions, type TokenCredential } from './access-token.js';
import { GrpcTokenTransport } from './grpc-token-transport.js';
import { TokenCache } from './token-cache.js';
import type { TokenTransport } from './token-transport.js';

/** Options every credential that talks to the gateways takes. */
export interface MeshCredentialOptions {
  /** Gateway endpoints (`host:port`), the home region first. Ignored when `transport` is set. */
  endpoints?: readonly string[];
  /** How requests reach the mesh. Default a {@link GrpcTokenTransport} over `endpoints`. */
  transport?: TokenTransport;
  /** TLS to the gateways (CA, server name) for the default transport. Without it: plaintext, for a local mesh only. */
  tls?: GatewayTlsOptions;
  /** Token cache, shareable between credentials. Default a cache of this credential's own. */
  cache?: TokenCache;
  /** Source of time (assertion iat/exp, token expiry). Default the system clock. */
  clock?: Clock;
  /** Timeout of a request a caller waits on when it passes no deadline, in ms. Default 10000. */
  requestTimeoutMs?: number;
}

/** How the client proves who it is on one request. */
export type ClientAuthentication = Pick<AcquireTokenRequest, 'clientAssertion' | 'clientAssertionType' | 'clientSecret'>;

/**
 * Common part of the credentials that call the mesh's TokenService: the cache key, the
 * transport call and turning the response into an {@link AccessToken}.
 */
export abstract class MeshCredential implements TokenCredential {
  readonly tenantId: string;
  readonly clientId: string;
  protected readonly clock: Clock;
  private readonly transport: TokenTransport;
  private readonly ownsTransport: boolean;
  private readonly cache: TokenCache;
  private readonly requestTimeoutMs: number;

  protected constructor(tenantId: string, clientId: string, options: MeshCredentialOptions) {
    if (tenantId === '' || clientId === '') throw new Error('tenantId and clientId are required');
    this.tenantId = tenantId;
    this.clientId = clientId;
    this.clock = options.clock ?? systemClock;
    this.ownsTransport = options.transport === undefined;
    this.transport = options.transport ?? new GrpcTokenTransport({ endpoints: options.endpoints ?? [], ...(options.tls === undefined ? {} : { tls: options.tls }) });
    this.cache = options.cache ?? new TokenCache({ clock: this.clock });
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  /** What authenticates the client on a request made at `nowMs`. */
  protected abstract authentication(nowMs: number): Promise<ClientAuthentication>;

  getToken(scope: string, options: GetTokenOptions = {}): Promise<AccessToken> {
    const key = `${this.tenantId}\n${this.clientId}\n${scope}`;
    return this.cache.get(key, (deadline) => this.request(scope, deadline), {
      deadline: deadlineMs(options.deadline, Date.now() + this.requestTimeoutMs),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  close(): void {
    if (this.ownsTransport) this.transport.close();
  }

  private async request(scope: string, deadline: number): Promise<AccessToken> {
    const auth = await this.authentication(this.clock.now());
    const res = await this.transport.acquireToken({ tenantId: this.tenantId, clientId: this.clientId, scope, ...auth }, { deadline });
    // Times count from when the answer arrived, on the injected clock.
    const now = this.clock.now();
    return {
      token: res.accessToken,
      expiresOn: Math.min(now + res.expiresIn * 1000, expClaimMs(res.accessToken)),
      refreshAfter: now + (res.refreshIn > 0 ? res.refreshIn : res.expiresIn / 2) * 1000,
      faultDomain: res.faultDomain,
    };
  }
}

/** The token's own `exp` in ms (whole seconds, so up to 1 s before `expires_in` suggests). */
function expClaimMs(token: string): number {
  try {
    const exp = (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp * 1000 : Infinity;
  } catch {
    return Infinity;
  }
}
