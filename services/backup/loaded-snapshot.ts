import type { SnapshotContent } from '../../lib/backup/index.js';
import type { Identity, SigningKey, Tenant } from '../../lib/directory/index.js';

/** A verified snapshot, indexed for lookups. */
export interface LoadedSnapshot {
  name: string;
  revision: number;
  createdAtMs: number;
  loadedAtMs: number;
  tenants: ReadonlyMap<string, Tenant>;
  /** Keyed by `<tenant>/<client>`. */
  identities: ReadonlyMap<string, Identity>;
  signingKeys: readonly SigningKey[];
}

export const identityKey = (tenantId: string, clientId: string): string => `${tenantId}/${clientId}`;

export function indexSnapshot(name: string, content: SnapshotContent, loadedAtMs: number): LoadedSnapshot {
  const identities = new Map<string, Identity>();
  for (const i of content.identities) identities.set(identityKey(i.tenantId, i.clientId), i);
  return {
    name,
    revision: content.revision,
    createdAtMs: content.createdAtMs,
    loadedAtMs,
    tenants: new Map(content.tenants.map((t) => [t.tenantId, t])),
    identities,
    signingKeys: content.signingKeys,
  };
}
