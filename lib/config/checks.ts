/** Reusable `check` functions for option specs. */

const LOOPBACK_OR_ANY = /^(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|localhost|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** `host:port` with a port in 0..65535 (0 picks a free port). */
export function hostPort(value: unknown): string | undefined {
  const m = LOOPBACK_OR_ANY.exec(String(value));
  if (m === null) return `expected host:port, got "${String(value)}"`;
  const port = Number(m[2]);
  return port > 65535 ? `port out of range in "${String(value)}"` : undefined;
}

export const positive = (value: unknown): string | undefined =>
  typeof value === 'number' && value > 0 ? undefined : `must be greater than 0, got ${String(value)}`;

export const nonNegative = (value: unknown): string | undefined =>
  typeof value === 'number' && value >= 0 ? undefined : `must be 0 or more, got ${String(value)}`;

export const nonEmpty = (value: unknown): string | undefined =>
  String(value).length > 0 ? undefined : 'must not be empty';

/** A region name: lower-case letters and digits, as in `eastus`. */
export const regionName = (value: unknown): string | undefined =>
  /^[a-z][a-z0-9-]{0,31}$/.test(String(value)) ? undefined : `expected a region name like "eastus", got "${String(value)}"`;

export const oneOf =
  (...allowed: string[]) =>
  (value: unknown): string | undefined =>
    allowed.includes(String(value)) ? undefined : `expected one of ${allowed.join(', ')}, got "${String(value)}"`;
