import { Metadata, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import type { ServingStatus } from 'grpc-health-check';
import {
  TokenServiceService,
  type AcquireTokenRequest,
  type AcquireTokenResponse,
  type GetJwksRequest,
  type GetJwksResponse,
} from '../../gen/authmesh/token/v1/token.js';
import { OAUTH_ERROR_KEY, REASON_KEY, serve, withRelay, type RunningServer, type ServiceBinding } from '../../lib/grpc/index.js';

/** How a {@link FakeTokenServer} answers the next calls. */
export type FakeServerBehaviour =
  | { kind: 'answer'; trailers?: Record<string, string> }
  | { kind: 'fail'; code: status; details?: string; oauthError?: string; reason?: string }
  /** Accepts the call and never answers (like a SIGSTOPped process); ends at the caller's deadline. */
  | { kind: 'hang' };

export interface FakeTokenServer {
  address: string;
  faultDomain: string;
  /** Calls received, by method. */
  calls: { acquireToken: number; getJwks: number };
  /** The last AcquireToken request as decoded here. */
  lastRequest: AcquireTokenRequest | undefined;
  set(behaviour: FakeServerBehaviour): void;
  /** Sets grpc.health.v1 status of every service the fake serves. */
  setHealth(status: ServingStatus): void;
  stop(): Promise<void>;
}

/**
 * A real grpc-js TokenService on 127.0.0.1:0 that answers as fault domain `faultDomain`, fails
 * with a status and trailers, or hangs, on command. Serves grpc.health.v1 and TokenRelayService
 * as the domains do (`relay: false` leaves the relay out, like a domain that has none).
 */
export async function startFakeTokenServer(
  faultDomain: string,
  behaviour: FakeServerBehaviour = { kind: 'answer' },
  options: { relay?: boolean } = {},
): Promise<FakeTokenServer> {
  let current = behaviour;
  const calls = { acquireToken: 0, getJwks: 0 };
  const hanging = new Set<() => void>();
  let lastRequest: AcquireTokenRequest | undefined;

  function respond<Res>(callback: sendUnaryData<Res>, answer: Res, onHang: (release: () => void) => void): void {
    const b = current;
    if (b.kind === 'hang') {
      onHang(() => callback({ code: status.UNAVAILABLE, details: 'released', metadata: new Metadata() }));
      return;
    }
    if (b.kind === 'fail') {
      const md = new Metadata();
      if (b.oauthError !== undefined) md.set(OAUTH_ERROR_KEY, b.oauthError);
      if (b.reason !== undefined) md.set(REASON_KEY, b.reason);
      callback({ code: b.code, details: b.details ?? `${faultDomain} fails with ${status[b.code]}`, metadata: md });
      return;
    }
    const md = new Metadata();
    md.set('authmesh-data-age-ms', '12');
    for (const [k, v] of Object.entries(b.trailers ?? {})) md.set(k, v);
    callback(null, answer, md);
  }

  const hang = (call: ServerUnaryCall<unknown, unknown>) => (release: () => void) => {
    hanging.add(release);
    call.once('cancelled', () => hanging.delete(release));
  };

  const token: ServiceBinding = {
    name: 'authmesh.token.v1.TokenService',
    definition: TokenServiceService,
    implementation: {
      acquireToken: (call: ServerUnaryCall<AcquireTokenRequest, AcquireTokenResponse>, callback: sendUnaryData<AcquireTokenResponse>) => {
        calls.acquireToken += 1;
        lastRequest = call.request;
        respond(
          callback,
          { accessToken: `token-${call.request.clientId}-from-${faultDomain}`, tokenType: 'Bearer', expiresIn: 3600, refreshIn: 1800, faultDomain },
          hang(call),
        );
      },
      getJwks: (call: ServerUnaryCall<GetJwksRequest, GetJwksResponse>, callback: sendUnaryData<GetJwksResponse>) => {
        calls.getJwks += 1;
        respond(callback, { jwksJson: JSON.stringify({ keys: [], from: faultDomain }) }, hang(call));
      },
    },
  };
  const running: RunningServer = await serve({
    listen: '127.0.0.1:0',
    // As the real domains: TokenService and, unless told otherwise, TokenRelayService over it.
    services: options.relay === false ? [token] : withRelay([token], token.name),
  });

  return {
    address: running.address,
    faultDomain,
    calls,
    get lastRequest() {
      return lastRequest;
    },
    set(b) {
      current = b;
    },
    setHealth: (s) => running.setServing(s),
    async stop() {
      for (const release of hanging) release();
      hanging.clear();
      await running.shutdown(200);
    },
  };
}

/**
 * A bare TokenService on 127.0.0.1:0, relay included as the domains serve it, whose AcquireToken
 * is `acquireToken` (GetJwks never answers): for tests that script a domain call by call.
 */
export function serveTokenService(acquireToken: (call: ServerUnaryCall<AcquireTokenRequest, AcquireTokenResponse>, callback: sendUnaryData<AcquireTokenResponse>) => void): Promise<RunningServer> {
  const token: ServiceBinding = { name: 'authmesh.token.v1.TokenService', definition: TokenServiceService, implementation: { acquireToken, getJwks: () => undefined } };
  return serve({ listen: '127.0.0.1:0', services: withRelay([token], token.name) });
}
