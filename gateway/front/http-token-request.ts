/** Parses and checks an OAuth 2.0 client-credentials token request of the HTTPS front. */
import { decodeJwt } from 'jose';
import type { AcquireTokenRequest } from '../../gen/authmesh/token/v1/token.js';
import { httpError, type HttpOAuthError } from './http-errors.js';

/** The one grant the token endpoint serves (RFC 6749 section 4.4). */
export const CLIENT_CREDENTIALS = 'client_credentials';

/** How the client authenticated; decides the `WWW-Authenticate` scheme of a 401. */
export type ClientAuthMethod = 'private_key_jwt' | 'client_secret_post' | 'client_secret_basic';

/** A token request turned into the gRPC message, or the error to answer with. */
export type ParsedTokenRequest =
  | { ok: true; request: AcquireTokenRequest; method: ClientAuthMethod }
  | { ok: false; error: HttpOAuthError; method?: ClientAuthMethod };

const FIELDS = ['grant_type', 'scope', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type'] as const;
type Field = (typeof FIELDS)[number];

const fail = (error: HttpOAuthError, method?: ClientAuthMethod): ParsedTokenRequest => ({ ok: false, error, ...(method ? { method } : {}) });

/** RFC 6749 section 2.3.1: Basic credentials are form-urlencoded before base64. */
function formDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** `Authorization: Basic ...` → client id and secret; undefined when malformed. */
export function parseBasic(header: string): { clientId: string; secret: string } | undefined {
  const m = /^Basic[ ]+([A-Za-z0-9+/]+=*)[ ]*$/i.exec(header);
  if (m === null) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  const clientId = formDecode(decoded.slice(0, colon));
  const secret = formDecode(decoded.slice(colon + 1));
  if (clientId === undefined || secret === undefined || clientId === '' || secret === '') return undefined;
  return { clientId, secret };
}

/** The client id an assertion names in `sub` (RFC 7523 section 3), read without verifying. */
function assertionSubject(assertion: string): string | undefined {
  try {
    const { sub } = decodeJwt(assertion);
    return typeof sub === 'string' && sub !== '' ? sub : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The AcquireTokenRequest of one client authentication, as one literal of a fixed shape (a shared
 * base spread into each answer costs more than the rest of the parser).
 */
function request(tenantId: string, scope: string, clientId: string, auth: { clientSecret?: string; clientAssertion?: string; clientAssertionType?: string }): AcquireTokenRequest {
  return {
    tenantId,
    clientId,
    scope,
    clientAssertion: auth.clientAssertion ?? '',
    clientAssertionType: auth.clientAssertionType ?? '',
    clientSecret: auth.clientSecret ?? '',
  };
}

/** Each field's bit in {@link readForm}'s masks. */
const FIELD_BIT: ReadonlyMap<string, number> = new Map(FIELDS.map((f, i) => [f, 1 << i]));

/** One name or value of a form: `+` is a space, then percent-decoded; undefined when a sequence is not valid UTF-8 percent-encoding. */
function formComponent(raw: string): string | undefined {
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * Every name and value of an `application/x-www-form-urlencoded` body, in order, as
 * `URLSearchParams` would give them, flat (`[name, value, name, value, ...]`). The body is split
 * and decoded in place; a body with a percent sequence `decodeURIComponent` refuses (`%zz`, bytes
 * that are not UTF-8), where the WHATWG parser keeps the text or puts U+FFFD, is read by
 * `URLSearchParams` itself.
 */
export function formParameters(body: string): string[] {
  const pairs: string[] = [];
  for (let at = body.startsWith('?') ? 1 : 0; at <= body.length; ) {
    let end = body.indexOf('&', at);
    if (end === -1) end = body.length;
    if (end > at) {
      const eq = body.indexOf('=', at);
      const split = eq === -1 || eq > end ? end : eq;
      const name = formComponent(body.slice(at, split));
      const value = split === end ? '' : formComponent(body.slice(split + 1, end));
      if (name === undefined || value === undefined) return [...new URLSearchParams(body)].flat();
      pairs.push(name, value);
    }
    at = end + 1;
  }
  return pairs;
}

/**
 * The fields of the form in one pass over its parameters (others are ignored), empty values left
 * out; or the name of the first field in {@link FIELDS} order that is repeated, when one is (RFC
 * 6749 section 3.2: parameters must not be included more than once).
 */
function readForm(body: string): Partial<Record<Field, string>> | Field {
  // Every field present from the start: one object shape whatever the form holds.
  const form: Record<Field, string | undefined> = {
    grant_type: undefined, scope: undefined, client_id: undefined, client_secret: undefined, client_assertion: undefined, client_assertion_type: undefined,
  };
  let seen = 0;
  let repeated = 0;
  const pairs = formParameters(body);
  for (let i = 0; i < pairs.length; i += 2) {
    const name = pairs[i]!;
    const bit = FIELD_BIT.get(name);
    if (bit === undefined) continue;
    if ((seen & bit) !== 0) repeated |= bit;
    seen |= bit;
    if (pairs[i + 1] !== '') form[name as Field] = pairs[i + 1];
  }
  return repeated === 0 ? form : FIELDS.find((_, i) => (repeated & (1 << i)) !== 0)!;
}

/**
 * Checks an `application/x-www-form-urlencoded` client credentials request and the client
 * authentication (private_key_jwt, client_secret_post or client_secret_basic), and builds the
 * AcquireTokenRequest the fault domains take. Credentials themselves are verified by the domain.
 * Error descriptions name parameters, never their values.
 */
export function parseTokenRequest(tenantId: string, body: string, authorization: string | undefined): ParsedTokenRequest {
  const form = readForm(body);
  if (typeof form === 'string') return fail(httpError('invalid_request', `parameter ${form} is repeated`));
  if (form.grant_type === undefined) return fail(httpError('invalid_request', 'grant_type is required'));
  if (form.grant_type !== CLIENT_CREDENTIALS) return fail(httpError('unsupported_grant_type', 'only the client_credentials grant is supported'));

  const basic = authorization !== undefined && /^basic /i.test(authorization.trimStart());
  const methods = [basic, form.client_secret !== undefined, form.client_assertion !== undefined].filter(Boolean).length;
  if (methods > 1) return fail(httpError('invalid_request', 'use exactly one client authentication method'));
  if (authorization !== undefined && !basic) return fail(httpError('invalid_client', 'the Authorization header must use the Basic scheme'));

  const scope = form.scope ?? '';
  if (basic) {
    const creds = parseBasic(authorization);
    if (creds === undefined) return fail(httpError('invalid_client', 'the Basic credentials are malformed'), 'client_secret_basic');
    if (form.client_id !== undefined && form.client_id !== creds.clientId) {
      return fail(httpError('invalid_request', 'client_id does not match the Basic credentials'), 'client_secret_basic');
    }
    return { ok: true, method: 'client_secret_basic', request: request(tenantId, scope, creds.clientId, { clientSecret: creds.secret }) };
  }
  if (form.client_assertion !== undefined) {
    if (form.client_assertion_type === undefined) return fail(httpError('invalid_request', 'client_assertion_type is required'), 'private_key_jwt');
    const clientId = form.client_id ?? assertionSubject(form.client_assertion);
    if (clientId === undefined) return fail(httpError('invalid_client', 'client_assertion is not a well-formed JWT'), 'private_key_jwt');
    return {
      ok: true,
      method: 'private_key_jwt',
      request: request(tenantId, scope, clientId, { clientAssertion: form.client_assertion, clientAssertionType: form.client_assertion_type }),
    };
  }
  if (form.client_secret !== undefined) {
    if (form.client_id === undefined) return fail(httpError('invalid_request', 'client_id is required'), 'client_secret_post');
    return { ok: true, method: 'client_secret_post', request: request(tenantId, scope, form.client_id, { clientSecret: form.client_secret }) };
  }
  return fail(httpError('invalid_client', 'client authentication is required (private_key_jwt, client_secret_post or client_secret_basic)'));
}
