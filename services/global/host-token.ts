import { createHmac, timingSafeEqual } from 'node:crypto';
import { nowSeconds, type Clock } from '../../lib/clock/index.js';

/** Prefix of a host token; like the admin token, never starts with `-`. */
export const HOST_TOKEN_PREFIX = 'amh_';
/** Lifetime of a host token when the request names none: 90 days. */
export const DEFAULT_HOST_TOKEN_SECONDS = 90 * 86_400;
/** Longest lifetime a host token may be given: 400 days. */
export const MAX_HOST_TOKEN_SECONDS = 400 * 86_400;

/** The one application a host token speaks for, and until when. */
export interface HostScope {
  tenantId: string;
  clientId: string;
  /** Unix seconds. */
  expiresAt: number;
}

const SHAPE = /^amh_([0-9a-f-]{36})\.([0-9a-f-]{36})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

/**
 * Host tokens: bearer credentials limited to one application's certificate credentials, for an
 * identity agent that rotates its host identity's key. A token is `amh_<tenant>.<client>.<exp>.<mac>`
 * with an HMAC-SHA256 under a key only global holds, so no table is needed; replacing the key
 * (the `host-token-key` file) revokes every host token at once.
 */
export class HostTokens {
  constructor(
    private readonly key: string,
    private readonly clock: Clock,
  ) {
    if (key.length < 16) throw new Error('the host token key is too short');
  }

  create(tenantId: string, clientId: string, lifetimeSeconds: number): { token: string; expiresAt: number } {
    const expiresAt = nowSeconds(this.clock) + lifetimeSeconds;
    return { token: `${HOST_TOKEN_PREFIX}${tenantId}.${clientId}.${expiresAt}.${this.mac(tenantId, clientId, expiresAt)}`, expiresAt };
  }

  /** The scope of a genuine, unexpired host token; undefined for anything else. */
  verify(token: string): HostScope | undefined {
    const m = SHAPE.exec(token);
    if (m === null) return undefined;
    const [, tenantId, clientId, exp, mac] = m as unknown as [string, string, string, string, string];
    const expiresAt = Number(exp);
    const expected = Buffer.from(this.mac(tenantId, clientId, expiresAt));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    if (expiresAt <= nowSeconds(this.clock)) return undefined;
    return { tenantId, clientId, expiresAt };
  }

  private mac(tenantId: string, clientId: string, expiresAt: number): string {
    return createHmac('sha256', this.key).update(`authmesh host token\n${tenantId}\n${clientId}\n${expiresAt}`).digest('base64url');
  }
}
