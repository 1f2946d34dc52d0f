/** Why a token was refused; a literal union so callers can switch on it. */
export type VerifierErrorCode =
  | 'ERR_TOKEN_MALFORMED'
  | 'ERR_TOKEN_ALGORITHM'
  | 'ERR_TOKEN_TYPE'
  | 'ERR_TOKEN_UNKNOWN_KEY'
  | 'ERR_TOKEN_SIGNATURE'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_NOT_YET_VALID'
  | 'ERR_TOKEN_ISSUER'
  | 'ERR_TOKEN_AUDIENCE'
  | 'ERR_TOKEN_CLAIM'
  | 'ERR_TOKEN_ROLE_MISSING'
  /** The key set could not be fetched and none is cached: the token could not be checked. */
  | 'ERR_JWKS_UNAVAILABLE';

/**
 * A token the verifier did not accept. The message is safe to return to the caller; `cause`
 * carries the underlying jose error.
 */
export class VerifierError extends Error {
  override name = 'VerifierError';
  readonly code: VerifierErrorCode;

  constructor(code: VerifierErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A registered claim did not hold (`iss`, `aud`, `nbf`, ...). */
export class TokenClaimError extends VerifierError {
  override name = 'TokenClaimError';
  readonly claim: string;

  constructor(code: VerifierErrorCode, claim: string, message: string, cause?: unknown) {
    super(code, message, { cause });
    this.claim = claim;
  }
}

/** The token is valid but lacks a role the operation requires. */
export class RoleMissingError extends VerifierError {
  override name = 'RoleMissingError';
  readonly required: readonly string[];
  readonly present: readonly string[];

  constructor(required: readonly string[], present: readonly string[]) {
    super('ERR_TOKEN_ROLE_MISSING', `the token lacks the role${required.length > 1 ? 's' : ''} ${required.join(', ')}`);
    this.required = required;
    this.present = present;
  }
}

/** Whether an error is a refusal of the token (as opposed to the key set being unreachable). */
export const isTokenRefusal = (err: unknown): err is VerifierError => err instanceof VerifierError && err.code !== 'ERR_JWKS_UNAVAILABLE';
