/** The HTTPS front's token endpoint: a form request forwarded as AcquireToken, answered as OAuth 2.0 JSON. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AcquireTokenRequest, AcquireTokenResponse } from '../../gen/authmesh/token/v1/token.js';
import type { Logger } from '../../lib/log/index.js';
import { reusingEncoder } from '../../lib/grpc/reusing-encoder.js';
import { ATTEMPTS_KEY, FAULT_DOMAIN_KEY, type CallerSignal, type Forwarder } from '../routing/forwarder.js';
import { errorFromForward, NO_STORE_HEADERS, noteForwardFailure, noteRefusal, sendJson, sendOAuthError } from './http-errors.js';
import { parseTokenRequest } from './http-token-request.js';
import type { CallOutcome } from './request-metrics.js';

/** Every token request is encoded through one kept writer. */
const encodeAcquireRequest = reusingEncoder(AcquireTokenRequest);
/** {@link NO_STORE_HEADERS} as a flat list, for `writeHead`. */
const NO_STORE_LIST: readonly string[] = Object.entries(NO_STORE_HEADERS).flat();

/** Response headers that say which fault domain answered and after how many attempts. */
function meshHeaders(domain: string | undefined, attempts: number): Record<string, string> {
  const headers: Record<string, string> = {};
  if (domain !== undefined) headers[FAULT_DOMAIN_KEY] = domain;
  headers[ATTEMPTS_KEY] = String(attempts);
  return headers;
}

/**
 * `POST /{tenant}/oauth2/v2.0/token`: the form is turned into an AcquireTokenRequest and sent
 * through the same failover loop as gRPC calls; the answer (token or status with `oauth-error`)
 * is turned back into RFC 6749 JSON. Nothing from the body is logged.
 */
export async function serveToken(
  req: IncomingMessage,
  res: ServerResponse,
  tenantId: string,
  body: string,
  deps: { failover: Forwarder; log: Logger; signal: CallerSignal; outcome?: CallOutcome },
): Promise<void> {
  const parsed = parseTokenRequest(tenantId, body, req.headers.authorization);
  if (!parsed.ok) {
    deps.log.debug({ route: 'token', tenant: tenantId, error: parsed.error.error }, 'token request refused at the gateway');
    noteRefusal(deps.outcome, parsed.error);
    sendOAuthError(res, parsed.error);
    return;
  }
  const started = Date.now();
  const r = await deps.failover.forward({ method: 'acquireToken', bytes: encodeAcquireRequest(parsed.request), signal: deps.signal });
  if (deps.signal.aborted) return;
  if (!r.ok) {
    const headers = meshHeaders(r.domain, r.attempts);
    const e = errorFromForward(r);
    noteForwardFailure(deps.outcome, r, e);
    deps.log.info({ route: 'token', tenant: tenantId, auth: parsed.method, error: e.error, domain: r.domain, attempts: r.attempts }, 'token request failed');
    sendOAuthError(res, e, headers);
    return;
  }
  if (deps.outcome !== undefined) deps.outcome.faultDomain = r.domain;
  const token = AcquireTokenResponse.decode(r.bytes);
  if (deps.log.isLevelEnabled('debug')) deps.log.debug({ route: 'token', tenant: tenantId, auth: parsed.method, domain: r.domain, attempts: r.attempts, ms: Date.now() - started }, 'token issued');
  sendToken(res, token, r.domain, r.attempts);
}

/** The RFC 6749 section 5.1 answer, with {@link NO_STORE_HEADERS} and the mesh's two headers as one flat list. */
function sendToken(res: ServerResponse, token: AcquireTokenResponse, domain: string, attempts: number): void {
  const body = { access_token: token.accessToken, token_type: token.tokenType || 'Bearer', expires_in: token.expiresIn, refresh_in: token.refreshIn };
  sendJson(res, 200, body, [...NO_STORE_LIST, FAULT_DOMAIN_KEY, domain, ATTEMPTS_KEY, String(attempts)]);
}
