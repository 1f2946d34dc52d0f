import type { AcquireTokenRequest } from '../../gen/authmesh/token/v1/token.js';
import { invalidRequest, invalidScope } from '../errors/index.js';
import { ASSERTION_TYPE, DEFAULT_SCOPE_SUFFIX } from './constants.js';

/** A request that passed the shape checks, with its resource identifier split out of the scope. */
export interface ValidRequest {
  tenantId: string;
  clientId: string;
  resource: string;
  assertion: string | undefined;
  secret: string | undefined;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const MAX_SCOPE = 1024;
const MAX_ASSERTION = 16 * 1024;
const MAX_SECRET = 512;

/**
 * Shape checks that need no directory data. Messages name the field, never echo its value.
 */
export function validateRequest(req: AcquireTokenRequest): ValidRequest {
  if (req.tenantId === '') throw invalidRequest('tenant_id is required');
  if (!ID.test(req.tenantId)) throw invalidRequest('tenant_id is malformed');
  if (req.clientId === '') throw invalidRequest('client_id is required');
  if (!ID.test(req.clientId)) throw invalidRequest('client_id is malformed');
  const resource = parseScope(req.scope);
  if (req.clientAssertionType !== '' && req.clientAssertionType !== ASSERTION_TYPE) {
    throw invalidRequest(`client_assertion_type must be ${ASSERTION_TYPE}`);
  }
  const hasAssertion = req.clientAssertion !== '';
  const hasSecret = req.clientSecret !== '';
  if (hasAssertion && hasSecret) throw invalidRequest('send client_assertion or client_secret, not both');
  if (!hasAssertion && !hasSecret) throw invalidRequest('client_assertion or client_secret is required');
  if (req.clientAssertion.length > MAX_ASSERTION) throw invalidRequest('client_assertion is larger than 16 KiB');
  if (req.clientSecret.length > MAX_SECRET) throw invalidRequest('client_secret is too long');
  return {
    tenantId: req.tenantId,
    clientId: req.clientId,
    resource,
    assertion: hasAssertion ? req.clientAssertion : undefined,
    secret: hasSecret ? req.clientSecret : undefined,
  };
}

/** `<resource identifier>/.default` → the identifier, which must be an absolute URI. */
export function parseScope(scope: string): string {
  if (scope === '') throw invalidRequest('scope is required');
  if (scope.length > MAX_SCOPE) throw invalidScope('scope is too long');
  if (/\s/.test(scope)) throw invalidScope('exactly one scope is allowed');
  if (!scope.endsWith(DEFAULT_SCOPE_SUFFIX)) throw invalidScope('scope must be <resource identifier>/.default');
  const resource = scope.slice(0, -DEFAULT_SCOPE_SUFFIX.length);
  if (!isAbsoluteUri(resource)) throw invalidScope('scope must name a resource by its absolute URI');
  return resource;
}

export function isAbsoluteUri(text: string): boolean {
  if (!/^[a-z][a-z0-9+.-]*:\S+$/i.test(text)) return false;
  try {
    new URL(text);
    return true;
  } catch {
    return false;
  }
}
