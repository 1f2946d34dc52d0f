import { generateSigningKeyPem } from '../../lib/token/index.js';
import { exportSignerFromPem, exportVerifierFromPem, type ExportSigner, type ExportVerifier, type SnapshotContent } from '../../lib/backup/index.js';
import { CredentialKind, type Identity } from '../../lib/directory/index.js';
import { createPublicKey } from 'node:crypto';

export const BACKUP_RESOURCE = 'https://storage.authmesh.local';

/** An export key pair: the signer global would hold and the verifier a backup is set up with. */
export async function exportKeyPair(): Promise<{ signer: ExportSigner; verifier: ExportVerifier; publicPem: string }> {
  const pem = generateSigningKeyPem();
  const signer = await exportSignerFromPem(pem);
  const publicPem = createPublicKey(pem).export({ format: 'pem', type: 'spki' }).toString();
  return { signer, verifier: await exportVerifierFromPem(publicPem), publicPem };
}

/** A synthetic identity with a secret credential hash and one grant. */
export function fakeIdentity(tenantId: string, n: number, overrides: Partial<Identity> = {}): Identity {
  return {
    tenantId,
    clientId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    objectId: `10000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    name: `app-${n}`,
    enabled: true,
    credentials: [
      {
        keyId: `key-${n}`,
        kind: CredentialKind.CREDENTIAL_KIND_SECRET,
        publicJwkJson: '',
        secretHash: `scrypt$${'a'.repeat(22)}$${'b'.repeat(43)}`,
        notBefore: 0,
        notAfter: 0,
        x5tS256: '',
      },
    ],
    grants: [{ resource: BACKUP_RESOURCE, role: 'Blob.Read' }],
    postureChangedAtMs: 0,
    lastAuthenticatedAtMs: 0,
    ...overrides,
  };
}

/** Directory content with `count` identities in one tenant, all authenticated at `authAtMs`. */
export function syntheticContent(count: number, revision: number, createdAtMs: number, authAtMs = createdAtMs): SnapshotContent {
  const tenantId = '20000000-0000-4000-8000-000000000001';
  const identities: Identity[] = [];
  for (let i = 0; i < count; i += 1) identities.push(fakeIdentity(tenantId, i, { lastAuthenticatedAtMs: authAtMs }));
  return {
    revision,
    createdAtMs,
    tenants: [{ tenantId, name: 'synthetic', resources: [{ identifier: BACKUP_RESOURCE, roles: ['Blob.Read', 'Blob.Write'] }] }],
    identities,
    signingKeys: [{ kid: 'k1', domain: 'global', publicJwkJson: '{"kty":"EC","crv":"P-256","x":"x","y":"y"}', createdAtMs: 1, retiredAtMs: 0 }],
  };
}
