import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { DirectoryView, Identity, LookupResult, Tenant } from '../../lib/directory/index.js';
import { CredentialKind } from '../../lib/directory/index.js';
import { hashSecret, parseCredentialPem } from '../../lib/token/index.js';

/** A DirectoryView over plain objects, for unit tests of token issuance. */
export class MemoryDirectory implements DirectoryView {
  readonly tenants = new Map<string, Tenant>();
  readonly identities = new Map<string, Identity>();
  dataAgeMs = 0;

  async lookup(tenantId: string, clientId: string): Promise<LookupResult> {
    return {
      tenant: this.tenants.get(tenantId),
      identity: this.identities.get(`${tenantId}/${clientId}`),
      dataAgeMs: this.dataAgeMs,
    };
  }

  put(identity: Identity): void {
    this.identities.set(`${identity.tenantId}/${identity.clientId}`, identity);
  }
}

export interface DemoWorkload {
  directory: MemoryDirectory;
  tenantId: string;
  clientId: string;
  resource: string;
  privateKey: KeyObject;
  keyId: string;
  secret: string;
  identity: Identity;
}

/** One tenant, one resource with roles Blob.Read/Blob.Write, one client holding Blob.Read. */
export async function demoWorkload(keyType: 'ec' | 'rsa' = 'ec'): Promise<DemoWorkload> {
  const { privateKey, publicKey } =
    keyType === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const parsed = await parseCredentialPem(publicKey.export({ format: 'pem', type: 'spki' }).toString());
  const directory = new MemoryDirectory();
  const tenantId = 'tenant-1';
  const clientId = 'client-1';
  const resource = 'https://storage.authmesh.local';
  const secret = 'ams_test-secret-value-0123456789';
  directory.tenants.set(tenantId, {
    tenantId,
    name: 'demo',
    resources: [{ identifier: resource, roles: ['Blob.Read', 'Blob.Write'] }],
  });
  const identity: Identity = {
    tenantId,
    clientId,
    objectId: 'object-1',
    name: 'worker',
    enabled: true,
    credentials: [
      { keyId: parsed.keyId, kind: CredentialKind.CREDENTIAL_KIND_CERTIFICATE, publicJwkJson: parsed.publicJwkJson, secretHash: '', notBefore: 0, notAfter: 0, x5tS256: '' },
      { keyId: 'secret-1', kind: CredentialKind.CREDENTIAL_KIND_SECRET, publicJwkJson: '', secretHash: hashSecret(secret), notBefore: 0, notAfter: 0, x5tS256: '' },
    ],
    grants: [{ resource, role: 'Blob.Read' }],
    postureChangedAtMs: 0,
    lastAuthenticatedAtMs: 0,
  };
  directory.put(identity);
  return { directory, tenantId, clientId, resource, privateKey, keyId: parsed.keyId, secret, identity };
}
