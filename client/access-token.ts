/** A token as getToken hands it out. Times are milliseconds since the epoch. */
export interface AccessToken {
  /** The JWT access token, for `authorization: Bearer <token>`. */
  token: string;
  /** When the token stops being valid. */
  expiresOn: number;
  /** After this the SDK refreshes the token in the background (refresh_in plus jitter). */
  refreshAfter: number;
  /** The fault domain that issued it: `regional/<region>`, `global` or `backup`. */
  faultDomain: string;
}

export interface GetTokenOptions {
  /** Stops waiting for a token; a request shared with other callers carries on. */
  signal?: AbortSignal;
  /** Absolute deadline (ms since the epoch, or a Date) for a request the call has to make. */
  deadline?: number | Date;
}

/** What every credential offers: a token for a scope (`<resource>/.default`). */
export interface TokenCredential {
  getToken(scope: string, options?: GetTokenOptions): Promise<AccessToken>;
  /** Releases connections; cached tokens are dropped with the credential. */
  close(): void;
}

export const deadlineMs = (deadline: number | Date | undefined, fallbackMs: number): number =>
  deadline === undefined ? fallbackMs : typeof deadline === 'number' ? deadline : deadline.getTime();
