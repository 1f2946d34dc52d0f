import { CredentialKind, type Credential, type Identity, type RoleGrant } from '../../../lib/directory/index.js';

/** A row of `apps`. */
export interface AppRow {
  tenant_id: string;
  client_id: string;
  object_id: string;
  name: string;
  enabled: number;
  posture_changed_at_ms: number;
  last_authenticated_at_ms: number;
  refuse_assertion_reuse: number;
}

/** A row of `credentials`. */
export interface CredentialRow {
  tenant_id: string;
  client_id: string;
  key_id: string;
  kind: 'certificate' | 'secret';
  public_jwk_json: string | null;
  secret_hash: string | null;
  x5t_s256: string | null;
  not_before: number;
  not_after: number;
}

/** A credential row in the wire model; only a secret's hash is ever there. */
export function credentialFromRow(c: CredentialRow): Credential {
  return {
    keyId: c.key_id,
    kind: c.kind === 'certificate' ? CredentialKind.CREDENTIAL_KIND_CERTIFICATE : CredentialKind.CREDENTIAL_KIND_SECRET,
    publicJwkJson: c.public_jwk_json ?? '',
    secretHash: c.secret_hash ?? '',
    notBefore: c.not_before,
    notAfter: c.not_after,
    x5tS256: c.x5t_s256 ?? '',
  };
}

/** An application row with its credentials and grants, as the Identity the mesh exchanges. */
export function identityFromRows(app: AppRow, credentials: Credential[], grants: RoleGrant[]): Identity {
  return {
    tenantId: app.tenant_id,
    clientId: app.client_id,
    objectId: app.object_id,
    name: app.name,
    enabled: app.enabled === 1,
    credentials,
    grants,
    postureChangedAtMs: app.posture_changed_at_ms,
    lastAuthenticatedAtMs: app.last_authenticated_at_ms,
    // Unset unless on, so an application without the setting reads as it always did.
    ...(Number(app.refuse_assertion_reuse) === 1 ? { refuseAssertionReuse: true } : {}),
  };
}
