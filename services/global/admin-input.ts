import { isAbsoluteUri } from '../../lib/token/index.js';
import { invalidArgument } from './store/directory-error.js';

/**
 * Format checks for admin input. Existence and uniqueness are the store's business; these only
 * say whether a value could ever be valid, with a message naming the field.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ROLE = /^[A-Za-z][A-Za-z0-9._:-]{0,63}$/;
const KEY_ID = /^[A-Za-z0-9_-]{1,128}$/;
// Control characters have no place in a display name and would garble logs.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export const MAX_NAME_LENGTH = 128;
export const MAX_IDENTIFIER_LENGTH = 2048;
export const MAX_ROLES = 100;
/** Latest validity accepted, in seconds since the epoch (end of year 9999). */
export const MAX_EPOCH_SECONDS = 253_402_300_799;
export const DEFAULT_SECRET_LIFETIME_SECONDS = 180 * 86_400;
export const MAX_SECRET_LIFETIME_SECONDS = 730 * 86_400;

export function uuidField(field: string, value: string): string {
  if (value === '') throw invalidArgument(`${field} is required`);
  if (!UUID.test(value)) throw invalidArgument(`${field} must be a UUID`);
  return value.toLowerCase();
}

export function nameField(field: string, value: string): string {
  if (value.trim() === '') throw invalidArgument(`${field} is required`);
  if (value.length > MAX_NAME_LENGTH) throw invalidArgument(`${field} is longer than ${MAX_NAME_LENGTH} characters`);
  if (CONTROL.test(value)) throw invalidArgument(`${field} must not contain control characters`);
  if (value !== value.trim()) throw invalidArgument(`${field} must not start or end with whitespace`);
  return value;
}

export function resourceField(field: string, value: string): string {
  if (value === '') throw invalidArgument(`${field} is required`);
  if (value.length > MAX_IDENTIFIER_LENGTH) throw invalidArgument(`${field} is longer than ${MAX_IDENTIFIER_LENGTH} characters`);
  if (!isAbsoluteUri(value)) throw invalidArgument(`${field} must be an absolute URI such as https://storage.example.com`);
  if (value.includes('#')) throw invalidArgument(`${field} must not contain a fragment`);
  if (value.endsWith('/.default')) throw invalidArgument(`${field} is the resource identifier, without /.default`);
  return value;
}

export function roleField(field: string, value: string): string {
  if (value === '') throw invalidArgument(`${field} is required`);
  if (!ROLE.test(value)) {
    throw invalidArgument(`${field} must start with a letter and use only letters, digits and . _ : - (at most 64 characters)`);
  }
  return value;
}

export function rolesField(field: string, values: readonly string[]): string[] {
  if (values.length > MAX_ROLES) throw invalidArgument(`${field} has more than ${MAX_ROLES} roles`);
  const seen = new Set<string>();
  for (const role of values) {
    roleField(`${field} entry`, role);
    if (seen.has(role)) throw invalidArgument(`${field} lists ${role} twice`);
    seen.add(role);
  }
  return [...seen];
}

export function keyIdField(field: string, value: string): string {
  if (value === '') throw invalidArgument(`${field} is required`);
  if (!KEY_ID.test(value)) throw invalidArgument(`${field} must be a key id (base64url characters, at most 128)`);
  return value;
}

export function epochSecondsField(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > MAX_EPOCH_SECONDS) {
    throw invalidArgument(`${field} must be seconds since the epoch, between 0 and ${MAX_EPOCH_SECONDS}`);
  }
  return value;
}

/** The validity a credential gets: the request's bounds where set, else the certificate's. */
export function validityOf(
  requested: { notBefore: number; notAfter: number },
  fromPem: { notBefore: number; notAfter: number },
  nowSeconds: number,
): { notBefore: number; notAfter: number } {
  const notBefore = epochSecondsField('not_before', requested.notBefore) || fromPem.notBefore;
  const notAfter = epochSecondsField('not_after', requested.notAfter) || fromPem.notAfter;
  if (notAfter !== 0 && notAfter <= notBefore) throw invalidArgument('not_after must be later than not_before');
  if (notAfter !== 0 && notAfter <= nowSeconds) throw invalidArgument('the credential has already expired (not_after is in the past)');
  return { notBefore, notAfter };
}

export function secretLifetimeField(value: number): number {
  if (value === 0) return DEFAULT_SECRET_LIFETIME_SECONDS;
  if (!Number.isSafeInteger(value) || value < 60 || value > MAX_SECRET_LIFETIME_SECONDS) {
    throw invalidArgument(`lifetime_seconds must be 0 (default) or between 60 and ${MAX_SECRET_LIFETIME_SECONDS}`);
  }
  return value;
}
