import { readFileSync } from 'node:fs';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { AdminServiceClient } from '../../gen/authmesh/admin/v1/admin.js';
import { bearer, meshChannelOptions, unary } from '../../lib/grpc/index.js';

/** Where the agent registers and removes the host identity's certificate credentials. */
export interface CredentialRegistrar {
  /** Registers an SPKI public key valid until `notAfterSeconds`; resolves with its key id. */
  add(publicKeyPem: string, notAfterSeconds: number): Promise<string>;
  remove(keyId: string): Promise<void>;
  close(): void;
}

/** {@link CredentialRegistrar} over global's AdminService, with the token read from a file on each call. */
export function adminRegistrar(opts: { address: string; tokenFile: string; tenantId: string; clientId: string; channelCredentials?: ChannelCredentials }): CredentialRegistrar {
  const creds = opts.channelCredentials ?? credentials.createInsecure();
  const client = new AdminServiceClient(opts.address, creds, meshChannelOptions(opts.address, creds));
  const metadata = () => bearer(readFileSync(opts.tokenFile, 'utf8').trim());
  const { tenantId, clientId } = opts;
  return {
    async add(pem, notAfter) {
      const res = await unary<{ keyId: string }>((m, o, cb) => client.addCertificateCredential({ tenantId, clientId, pem, notBefore: 0, notAfter }, m, o, cb), { metadata: metadata() });
      return res.keyId;
    },
    async remove(keyId) {
      await unary((m, o, cb) => client.removeCredential({ tenantId, clientId, keyId }, m, o, cb), { metadata: metadata() });
    },
    close: () => client.close(),
  };
}
