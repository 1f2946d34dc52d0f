/** Issuer base used when none is configured; tokens carry `<issuer>/<tenant>/v2.0`. */
export const DEFAULT_ISSUER = 'https://login.authmesh.local';

/** The only accepted `client_assertion_type` (RFC 7523 section 2.2). */
export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Assertion algorithms accepted; never `none` and never HMAC. */
export const ASSERTION_ALGORITHMS: readonly string[] = Object.freeze(['ES256', 'RS256', 'PS256']);

/** An assertion may live at most this long after it was issued. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 3600;

/** Clock skew tolerated on `exp`, `nbf` and `iat` of assertions. */
export const ASSERTION_CLOCK_SKEW_SECONDS = 300;

/** Suffix that every scope must carry: `<resource identifier>/.default`. */
export const DEFAULT_SCOPE_SUFFIX = '/.default';

/** The `iss` of access tokens for a tenant, the same from every fault domain. */
export const tokenIssuer = (issuer: string, tenantId: string): string => `${issuer}/${tenantId}/v2.0`;

/** The `aud` an assertion must carry: the tenant's token endpoint. */
export const assertionAudience = (issuer: string, tenantId: string): string => `${issuer}/${tenantId}/oauth2/v2.0/token`;

/** Claim naming the fault domain that issued an access token. */
export const FAULT_DOMAIN_CLAIM = 'fault_domain';
