import { CertificateCredential, TokenCache, type AccessToken, type GetTokenOptions, type TokenTransport } from '../../client/index.js';
import type { HeldCredential } from './credential-rotator.js';

/**
 * Tokens for the host identity. One token cache outlives every credential rotation: tokens stay
 * valid whichever key obtained them, so a rotation never empties the cache.
 */
export class HostIdentity {
  private credential: CertificateCredential | undefined;

  constructor(
    readonly tenantId: string,
    readonly clientId: string,
    private readonly transport: TokenTransport,
    private readonly cache: TokenCache,
    private readonly issuer: string,
  ) {}

  /** Starts signing assertions with `held`. */
  use(held: HeldCredential): void {
    this.credential = this.credentialFor(held);
  }

  /** A credential for `held` that bypasses the cache: to check a new key before switching. */
  probeCredential(held: HeldCredential): CertificateCredential {
    return new CertificateCredential(this.tenantId, this.clientId, held.key, { transport: this.transport, issuer: this.issuer, cache: new TokenCache() });
  }

  getToken(scope: string, options: GetTokenOptions = {}): Promise<AccessToken> {
    if (this.credential === undefined) return Promise.reject(new Error('the host identity has no credential yet'));
    return this.credential.getToken(scope, options);
  }

  private credentialFor(held: HeldCredential): CertificateCredential {
    return new CertificateCredential(this.tenantId, this.clientId, held.key, { transport: this.transport, issuer: this.issuer, cache: this.cache });
  }
}
