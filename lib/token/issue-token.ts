import { randomUUID } from 'node:crypto';
import type { Identity } from '../../gen/authmesh/directory/v1/directory.js';
import { CredentialKind } from '../../gen/authmesh/directory/v1/directory.js';
import type { AcquireTokenRequest, AcquireTokenResponse } from '../../gen/authmesh/token/v1/token.js';
import type { Clock } from '../clock/index.js';
import type { VerifiedAssertionCache } from './assertion-cache.js';
import type { AssertionPolicy } from './assertion-policy.js';
import type { DirectoryView, LookupOptions } from '../directory/index.js';
import { invalidClient, invalidRequest, invalidScope, unauthorizedClient } from '../errors/index.js';
import { FAULT_DOMAIN_CLAIM, tokenIssuer } from './constants.js';
import { verifySecret } from './secrets.js';
import type { TokenSigner } from './token-signer.js';
import { validateRequest } from './validate-request.js';
import { assertionClaims, checkAssertion, checkAssertionAsync, type VerifiedAssertion } from './verify-assertion.js';

/** What a fault domain needs to issue tokens. */
export interface IssueContext {
  directory: DirectoryView;
  signer: TokenSigner;
  /** Issuer base, e.g. `https://login.authmesh.local`. */
  issuer: string;
  lifetimeSeconds: number;
  /** Fraction of the lifetime after which clients should refresh (0.5 by default). */
  refreshRatio: number;
  clock: Clock;
  /**
   * Assertions already verified for the identity object the directory returns; skips the
   * signature check for a reused assertion. Only for directories whose identity objects change
   * on every posture change (regional cache, backup snapshot).
   */
  assertionCache?: VerifiedAssertionCache;
  /** This instance's assertion lifetime cap and the assertion ids used by clients that refuse reuse. */
  assertions: AssertionPolicy;
}

export interface IssuedToken {
  response: AcquireTokenResponse;
  identity: Identity;
  /** Age of the directory data the token was issued from, in ms. */
  dataAgeMs: number;
}

/**
 * The client credentials grant: shape checks, client authentication (assertion or secret),
 * posture (enabled), scope and role checks, then a signed RFC 9068 access token.
 * Every refusal is an OAuthError; nothing here knows about gRPC.
 */
export async function issueToken(req: AcquireTokenRequest, ctx: IssueContext, options?: LookupOptions): Promise<IssuedToken> {
  const valid = validateRequest(req);
  const { tenant, identity, dataAgeMs } = await ctx.directory.lookup(valid.tenantId, valid.clientId, options);
  if (tenant === undefined) throw invalidRequest('unknown tenant');
  if (identity === undefined) throw invalidClient('unknown client');

  let verified: VerifiedAssertion | undefined;
  if (valid.assertion !== undefined) {
    const cache = ctx.assertionCache;
    if (cache === undefined || !cache.has(valid.assertion, identity, Math.floor(ctx.clock.now() / 1000))) {
      // Placed as the token's signature is (TokenSigner.signPlaced): on the event loop while it
      // has room, on libuv's thread pool once it is busy.
      const check = { issuer: ctx.issuer, clock: ctx.clock, maxLifetimeSeconds: ctx.assertions.maxLifetimeSeconds };
      verified = ctx.signer.loopLoad.busy ? await checkAssertionAsync(valid.assertion, identity, check) : checkAssertion(valid.assertion, identity, check);
      cache?.remember(valid.assertion, identity, verified.credential, verified);
    }
  } else if (!secretMatches(identity, valid.secret!, Math.floor(ctx.clock.now() / 1000))) {
    throw invalidClient('client secret is invalid or expired');
  }
  if (!identity.enabled) throw unauthorizedClient('the application is disabled');

  const resource = tenant.resources.find((r) => r.identifier === valid.resource);
  if (resource === undefined) throw invalidScope('unknown resource');
  const roles = identity.grants
    .filter((g) => g.resource === resource.identifier && resource.roles.includes(g.role))
    .map((g) => g.role)
    .sort();
  if (roles.length === 0) throw unauthorizedClient('the client has no role on the resource');

  const iat = Math.floor(ctx.clock.now() / 1000);
  // Checked last, so a refused request (disabled, no role) does not use up the assertion.
  if (valid.assertion !== undefined && (identity.refuseAssertionReuse === true || tenant.refuseAssertionReuse === true)) {
    // The assertion verified above, so its claims are the client's own.
    const { jti, exp } = verified ?? assertionClaims(valid.assertion);
    if (!ctx.assertions.firstUse(tenant.tenantId, identity.clientId, String(jti), Number(exp), iat)) {
      throw invalidClient('client_assertion was already used (its jti was seen before) and this application refuses assertion reuse; sign a new one per request');
    }
  }
  const accessToken = await ctx.signer.signPlaced({
    iss: tokenIssuer(ctx.issuer, tenant.tenantId),
    aud: resource.identifier,
    sub: identity.objectId,
    client_id: identity.clientId,
    azp: identity.clientId,
    tid: tenant.tenantId,
    roles,
    iat,
    nbf: iat,
    exp: iat + ctx.lifetimeSeconds,
    jti: randomUUID(),
    [FAULT_DOMAIN_CLAIM]: ctx.signer.domain,
  });
  return {
    response: {
      accessToken,
      tokenType: 'Bearer',
      expiresIn: ctx.lifetimeSeconds,
      refreshIn: Math.max(1, Math.floor(ctx.lifetimeSeconds * ctx.refreshRatio)),
      faultDomain: ctx.signer.domain,
    },
    identity,
    dataAgeMs,
  };
}

function secretMatches(identity: Identity, secret: string, nowSeconds: number): boolean {
  let matched = false;
  for (const c of identity.credentials) {
    if (c.kind !== CredentialKind.CREDENTIAL_KIND_SECRET) continue;
    if (c.notBefore !== 0 && nowSeconds < c.notBefore) continue;
    if (c.notAfter !== 0 && nowSeconds >= c.notAfter) continue;
    // Check every candidate so the time taken does not tell which one matched.
    if (verifySecret(secret, c.secretHash)) matched = true;
  }
  return matched;
}
