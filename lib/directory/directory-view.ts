import type { Identity, Tenant } from '../../gen/authmesh/directory/v1/directory.js';

/** What a fault domain knows about one client, for one token request. */
export interface LookupResult {
  /** Undefined when the tenant is unknown. */
  tenant: Tenant | undefined;
  /** Undefined when the client is unknown in the tenant. */
  identity: Identity | undefined;
  /** Age of the data the answer came from, in ms (0 for global's own store). */
  dataAgeMs: number;
}

export interface LookupOptions {
  /** Absolute deadline in ms since the epoch; a fill must give up by then. */
  deadline?: number;
  signal?: AbortSignal;
}

/**
 * The directory as one fault domain sees it: global's SQLite store, a regional cache, or a backup
 * snapshot. Throws an OAuthError `temporarily_unavailable` when it cannot answer (for example a
 * cache miss that cannot be filled).
 */
export interface DirectoryView {
  lookup(tenantId: string, clientId: string, options?: LookupOptions): Promise<LookupResult>;
}
