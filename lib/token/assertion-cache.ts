import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { Credential, Identity } from '../../gen/authmesh/directory/v1/directory.js';
import { CredentialKind } from '../../gen/authmesh/directory/v1/directory.js';

/** Options of {@link VerifiedAssertionCache}. */
export interface VerifiedAssertionCacheOptions {
  /** Most assertions remembered; the oldest is dropped past it. Default 100,000. */
  capacity?: number;
}

interface Verified {
  /** The directory's identity object the assertion was verified against. */
  identity: Identity;
  /** The key id of the credential that verified it (or the header's `kid` / `x5t#S256`), to find it again. */
  kid: string | undefined;
  x5t: string | undefined;
  /** `exp` of the assertion, seconds since the epoch. */
  exp: number;
}

/**
 * Assertions that passed the full check ({@link verifyAssertion}), so a workload that reuses its
 * assertion (as SDKs do) costs one signature check per assertion instead of one per request.
 *
 * An entry counts only while all of this holds:
 * - the assertion has not expired (`exp`, with no skew added);
 * - the directory hands out the very same identity object it was verified against. Directory
 *   views replace an identity's object on any change to it (disable, credential added or removed,
 *   role granted or revoked), so any posture change of that client drops the entry;
 * - the credential the header names is still on the identity and inside its validity window.
 *
 * The application's enabled flag and its roles are checked on every request after this, cached
 * or not.
 */
export class VerifiedAssertionCache {
  private readonly entries = new Map<string, Verified>();
  private readonly capacity: number;

  constructor(options: VerifiedAssertionCacheOptions = {}) {
    this.capacity = options.capacity ?? 100_000;
    if (!Number.isInteger(this.capacity) || this.capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  get size(): number {
    return this.entries.size;
  }

  /** True when `assertion` was verified for this exact `identity` and is still good at `nowSeconds`. */
  has(assertion: string, identity: Identity, nowSeconds: number): boolean {
    const v = this.entries.get(assertion);
    if (v === undefined) return false;
    if (v.identity !== identity || nowSeconds >= v.exp || !credentialStillValid(identity, v, nowSeconds)) {
      this.entries.delete(assertion);
      return false;
    }
    return true;
  }

  /**
   * Remembers an assertion that has just passed the full check for `identity`. `verifiedWith`, the
   * credential whose key verified it, is what later checks look for (a kid-less assertion names none);
   * without it the header's `kid` or `x5t#S256` is. `claims`, when the verification decoded them,
   * spare decoding the assertion again.
   */
  remember(assertion: string, identity: Identity, verifiedWith?: Credential, claims?: { exp: number; kid: string | undefined; x5t: string | undefined }): void {
    let exp: unknown;
    let kid: unknown;
    let x5t: unknown;
    if (claims !== undefined) {
      ({ exp, kid, x5t } = claims);
    } else {
      try {
        exp = decodeJwt(assertion).exp;
        const header = decodeProtectedHeader(assertion);
        kid = header.kid;
        x5t = header['x5t#S256'];
      } catch {
        return;
      }
    }
    if (typeof exp !== 'number') return;
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
    this.entries.set(assertion, {
      identity,
      exp,
      kid: verifiedWith !== undefined ? verifiedWith.keyId : typeof kid === 'string' ? kid : undefined,
      x5t: verifiedWith !== undefined ? undefined : typeof x5t === 'string' ? x5t : undefined,
    });
  }

  clear(): void {
    this.entries.clear();
  }
}

function credentialStillValid(identity: Identity, v: Verified, nowSeconds: number): boolean {
  for (const c of identity.credentials) {
    if (c.kind !== CredentialKind.CREDENTIAL_KIND_CERTIFICATE) continue;
    const named = (v.kid !== undefined && c.keyId === v.kid) || (v.x5t !== undefined && c.x5tS256 !== '' && c.x5tS256 === v.x5t);
    if (!named) continue;
    if (c.notBefore !== 0 && nowSeconds < c.notBefore) return false;
    if (c.notAfter !== 0 && nowSeconds >= c.notAfter) return false;
    return true;
  }
  return false;
}
