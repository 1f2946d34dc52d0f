import { decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { systemClock, type Clock } from '../lib/clock/index.js';
import { DEFAULT_ISSUER, FAULT_DOMAIN_CLAIM, tokenIssuer } from '../lib/token/constants.js';
import { RoleMissingError, TokenClaimError, VerifierError, type VerifierErrorCode } from './errors.js';
import { KeySetCache } from './key-set-cache.js';
import type { JwksSource } from './jwks-source.js';

export interface TokenVerifierOptions {
  /** The key set: a {@link KeySetCache}, or a source to build one from. */
  keys: KeySetCache | JwksSource;
  /** Tenant (or tenants) whose tokens are accepted; `iss` must be `<issuer>/<tenant>/v2.0`. */
  tenantId: string | readonly string[];
  /** The resource identifier this server is; `aud` must contain it. */
  audience: string;
  /** Issuer base of the mesh. Default `https://login.authmesh.local`. */
  issuer?: string;
  /** Tolerated clock skew on `exp` and `nbf`, in seconds. Default 60. */
  clockToleranceSeconds?: number;
  /** Accepted signature algorithms. Default ES256 only. */
  algorithms?: readonly string[];
  /** Source of time for `exp`/`nbf` and the key set's refetch interval. Default the system clock. */
  clock?: Clock;
}

export interface VerifyOptions {
  /** Every one of these must be in the `roles` claim. */
  requiredRoles?: readonly string[];
}

/** An accepted token: its claims, and the fields a resource server usually needs. */
export interface VerifiedToken {
  claims: JWTPayload;
  tenantId: string;
  clientId: string;
  roles: readonly string[];
  faultDomain: string;
}

const CLAIM_CODES: Readonly<Record<string, VerifierErrorCode>> = { iss: 'ERR_TOKEN_ISSUER', aud: 'ERR_TOKEN_AUDIENCE', nbf: 'ERR_TOKEN_NOT_YET_VALID', typ: 'ERR_TOKEN_TYPE' };

/**
 * Checks access tokens for one resource: signature against the mesh's JWK Set, `typ: at+jwt`,
 * algorithm, `iss`, `tid` (the tenant `iss` names), `aud`, `exp`/`nbf` with skew, and required roles.
 */
export class TokenVerifier {
  readonly keys: KeySetCache;
  private readonly issuers: string[];
  /** Tenant each accepted `iss` belongs to. */
  private readonly tenantOfIssuer: ReadonlyMap<string, string>;
  private readonly audience: string;
  private readonly toleranceSeconds: number;
  private readonly algorithms: string[];
  private readonly clock: Clock;

  constructor(options: TokenVerifierOptions) {
    this.clock = options.clock ?? systemClock;
    this.keys = options.keys instanceof KeySetCache ? options.keys : new KeySetCache({ source: options.keys, clock: this.clock });
    const tenants = typeof options.tenantId === 'string' ? [options.tenantId] : [...options.tenantId];
    if (tenants.length === 0 || options.audience === '') throw new Error('tenantId and audience are required');
    this.issuers = tenants.map((t) => tokenIssuer(options.issuer ?? DEFAULT_ISSUER, t));
    this.tenantOfIssuer = new Map(tenants.map((t, i) => [this.issuers[i]!, t]));
    this.audience = options.audience;
    this.toleranceSeconds = options.clockToleranceSeconds ?? 60;
    this.algorithms = [...(options.algorithms ?? ['ES256'])];
  }

  /** Resolves with the token's claims, or rejects with a {@link VerifierError}. */
  async verify(token: string, options: VerifyOptions = {}): Promise<VerifiedToken> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch (err) {
      throw new VerifierError('ERR_TOKEN_MALFORMED', 'the token is not a JWS', { cause: err });
    }
    if (alg === undefined || !this.algorithms.includes(alg)) throw new VerifierError('ERR_TOKEN_ALGORITHM', `algorithm ${alg ?? '(none)'} is not accepted`);
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, this.keys.getKey, {
        typ: 'at+jwt',
        issuer: this.issuers,
        audience: this.audience,
        algorithms: this.algorithms,
        clockTolerance: this.toleranceSeconds,
        currentDate: new Date(this.clock.now()),
        requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'tid'],
      }));
    } catch (err) {
      throw mapJoseError(err);
    }
    // `iss` names the tenant too; a token whose `tid` says another one is refused, so a resource
    // server that reads `tenantId` never trusts a tenant the issuer did not vouch for.
    const issuerTenant = this.tenantOfIssuer.get(String(claims.iss));
    if (claims.tid !== issuerTenant) {
      throw new TokenClaimError('ERR_TOKEN_CLAIM', 'tid', `claim tid check failed: tid ${JSON.stringify(claims.tid)} is not the tenant of iss (${issuerTenant ?? 'unknown'})`);
    }
    const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === 'string') : [];
    const missing = (options.requiredRoles ?? []).filter((r) => !roles.includes(r));
    if (missing.length > 0) throw new RoleMissingError(missing, roles);
    return {
      claims,
      tenantId: String(claims.tid),
      clientId: String(claims.client_id),
      roles,
      faultDomain: typeof claims[FAULT_DOMAIN_CLAIM] === 'string' ? (claims[FAULT_DOMAIN_CLAIM] as string) : '',
    };
  }
}

function mapJoseError(err: unknown): VerifierError {
  if (err instanceof VerifierError) return err;
  const e = err as { code?: string; claim?: string; message?: string };
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return new TokenClaimError('ERR_TOKEN_EXPIRED', 'exp', 'the token has expired', err);
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = e.claim ?? 'unknown';
      return new TokenClaimError(CLAIM_CODES[claim] ?? 'ERR_TOKEN_CLAIM', claim, `claim ${claim} check failed: ${e.message ?? ''}`, err);
    }
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return new VerifierError('ERR_TOKEN_ALGORITHM', 'the token algorithm is not accepted', { cause: err });
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return new VerifierError('ERR_TOKEN_UNKNOWN_KEY', 'no key in the key set matches the token', { cause: err });
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return new VerifierError('ERR_TOKEN_SIGNATURE', 'the token signature does not verify', { cause: err });
    default:
      return new VerifierError('ERR_TOKEN_MALFORMED', 'the token is malformed', { cause: err });
  }
}
