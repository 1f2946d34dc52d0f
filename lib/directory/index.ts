export type { DirectoryView, LookupResult, LookupOptions } from './directory-view.js';
export type { Identity, Tenant, Credential, RoleGrant, SigningKey, Resource } from '../../gen/authmesh/directory/v1/directory.js';
export { CredentialKind } from '../../gen/authmesh/directory/v1/directory.js';
export { USAGE_PRECISION_MS } from './usage.js';
