/** Reusable `check` functions for option specs. */

const LOOPBACK_OR_ANY = /^(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|localhost|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** `host:port` with a port in 0..65535 (0 picks a free port). */
export function hostPort(value: unknown): string | undefined {
  const m = LOOPBACK_OR_ANY.exec(String(value));
  if (m === null) return `expected host:port, got "${String(value)}"`;
  const port = Number(m[2]);
  return port > 65535 ? `port out of range in "${String(value)}"` : undefined;
}

/** One `host:port`, or several instances of one tier as IP `host:port` entries joined by commas. */
export function hostPortList(value: unknown): string | undefined {
  const parts = String(value).split(',');
  if (parts.length === 1) return hostPort(value);
  for (const p of parts) {
    const bad = hostPort(p);
    if (bad !== undefined) return bad;
  }
  const ipv4 = parts.every((p) => /^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(p));
  const ipv6 = parts.every((p) => /^\[[0-9a-fA-F:]+\]:\d+$/.test(p));
  return ipv4 || ipv6 ? undefined : `several addresses must all be IPv4 or all IPv6 host:port, got "${String(value)}"`;
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
