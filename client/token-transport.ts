import type { AcquireTokenRequest, AcquireTokenResponse } from '../gen/authmesh/token/v1/token.js';

export type { AcquireTokenRequest, AcquireTokenResponse };

export interface TransportCallOptions {
  /** Absolute deadline, ms since the epoch (wall clock, as gRPC deadlines are). */
  deadline: number;
  signal?: AbortSignal;
}

/**
 * How a credential reaches the mesh. Implementations throw {@link TokenRefusedError} for an
 * answer that refuses the request and {@link MeshUnavailableError} when nothing answered.
 */
export interface TokenTransport {
  acquireToken(request: AcquireTokenRequest, options: TransportCallOptions): Promise<AcquireTokenResponse>;
  /** The JWK Set document (JSON text) of a tenant. */
  getJwks(tenantId: string, options: TransportCallOptions): Promise<string>;
  close(): void;
}
