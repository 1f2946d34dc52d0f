import { MeshCredential, type ClientAuthentication, type MeshCredentialOptions } from './mesh-credential.js';

/** Authenticates with a client secret. Prefer certificates or a managed identity where possible. */
export class SecretCredential extends MeshCredential {
  private readonly secret: string;

  constructor(tenantId: string, clientId: string, secret: string, options: MeshCredentialOptions = {}) {
    super(tenantId, clientId, options);
    if (secret === '') throw new Error('a client secret is required');
    this.secret = secret;
  }

  protected override authentication(): Promise<ClientAuthentication> {
    return Promise.resolve({ clientAssertion: '', clientAssertionType: '', clientSecret: this.secret });
  }
}
