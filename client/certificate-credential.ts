import { createPrivateKey, type KeyObject } from 'node:crypto';
import { algorithmFor, buildAssertion, type BuiltAssertion } from '../lib/token/build-assertion.js';
import { ASSERTION_TYPE, DEFAULT_ISSUER } from '../lib/token/constants.js';
import { AuthmeshClientError } from './errors.js';
import { MeshCredential, type ClientAuthentication, type MeshCredentialOptions } from './mesh-credential.js';

export interface CertificateCredentialOptions extends MeshCredentialOptions {
  /** Issuer base of the mesh; assertions are addressed to its token endpoint. Default `https://login.authmesh.local`. */
  issuer?: string;
  /** Lifetime of each client assertion, in seconds (at most 3600). Default 600. */
  assertionLifetimeSeconds?: number;
  /** An assertion is rebuilt once it expires within this many seconds. Default 60. */
  assertionRenewSeconds?: number;
}

/**
 * Authenticates with a certificate credential's private key (EC P-256 or RSA): each request
 * carries an RFC 7523 assertion, reused until it nears its expiry.
 */
export class CertificateCredential extends MeshCredential {
  private readonly key: KeyObject;
  private readonly issuer: string;
  private readonly lifetimeSeconds: number;
  private readonly renewSeconds: number;
  private current: Promise<BuiltAssertion> | undefined;

  constructor(tenantId: string, clientId: string, privateKey: string | KeyObject, options: CertificateCredentialOptions = {}) {
    super(tenantId, clientId, options);
    try {
      this.key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
      algorithmFor(this.key);
    } catch (err) {
      throw new AuthmeshClientError('ERR_INVALID_CREDENTIAL', 'the private key must be an EC P-256 or RSA private key', { cause: err });
    }
    this.issuer = options.issuer ?? DEFAULT_ISSUER;
    this.lifetimeSeconds = Math.min(options.assertionLifetimeSeconds ?? 600, 3600);
    this.renewSeconds = Math.min(options.assertionRenewSeconds ?? 60, Math.floor(this.lifetimeSeconds / 2));
  }

  protected override async authentication(nowMs: number): Promise<ClientAuthentication> {
    let built = this.current === undefined ? undefined : await this.current.catch(() => undefined);
    if (built === undefined || nowMs / 1000 >= built.expiresAt - this.renewSeconds) {
      this.current = buildAssertion({
        tenantId: this.tenantId, clientId: this.clientId, issuer: this.issuer,
        privateKey: this.key, lifetimeSeconds: this.lifetimeSeconds, nowMs,
      });
      built = await this.current;
    }
    return { clientAssertion: built.assertion, clientAssertionType: ASSERTION_TYPE, clientSecret: '' };
  }
}
