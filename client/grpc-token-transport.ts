import { Metadata, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { TokenServiceClient, type AcquireTokenRequest, type AcquireTokenResponse } from '../gen/authmesh/token/v1/token.js';
import { CALLER_ERROR_CODES, readErrorTrailers } from '../lib/grpc/status-map.js';
import { gatewayChannel, type GatewayTlsOptions } from './gateway-tls.js';
import { MeshUnavailableError, TokenRefusedError, type EndpointAttempt } from './errors.js';
import type { TokenTransport, TransportCallOptions } from './token-transport.js';

export interface GrpcTokenTransportOptions {
  /** Gateway endpoints (`host:port`), the home region first. Tried in order on every request. */
  endpoints: readonly string[];
  /** Longest one attempt on one endpoint may take, in ms, within the caller's deadline. Default 3000. */
  attemptTimeoutMs?: number;
  /**
   * TLS to the gateways: the CA that signed their certificates and, when it differs from the
   * endpoint's host, the name they carry. Without it (and without `channelCredentials`) the
   * transport speaks plaintext, which only a local development mesh accepts.
   */
  tls?: GatewayTlsOptions;
  /** Channel credentials, for anything `tls` does not cover; wins over `tls`. */
  channelCredentials?: ChannelCredentials;
}

/** Reconnect quickly once a gateway is back, rather than after grpc-js's long default backoff. */
const CHANNEL_OPTIONS = {
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 2000,
} as const;

type Call<Res> = (client: TokenServiceClient, md: Metadata, opts: { deadline: number }, cb: (err: ServiceError | null, res: Res) => void) => unknown;

/**
 * {@link TokenTransport} over gRPC to the gateways. A refusal is returned at once; UNAVAILABLE,
 * a deadline or any other fault moves on to the next endpoint while the deadline lasts.
 */
export class GrpcTokenTransport implements TokenTransport {
  private readonly endpoints: readonly string[];
  private readonly clients: TokenServiceClient[];
  private readonly attemptTimeoutMs: number;

  constructor(options: GrpcTokenTransportOptions) {
    if (options.endpoints.length === 0) throw new Error('at least one gateway endpoint is required');
    this.endpoints = [...options.endpoints];
    this.clients = this.endpoints.map((e) => {
      const channel = gatewayChannel(e, options.tls);
      const creds = options.channelCredentials ?? channel.credentials;
      return new TokenServiceClient(e, creds, { ...CHANNEL_OPTIONS, ...(creds._isSecure() ? channel.options : {}) });
    });
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 3000;
  }

  acquireToken(request: AcquireTokenRequest, options: TransportCallOptions): Promise<AcquireTokenResponse> {
    return this.call<AcquireTokenResponse>((c, md, o, cb) => c.acquireToken(request, md, o, cb), options);
  }

  async getJwks(tenantId: string, options: TransportCallOptions): Promise<string> {
    const res = await this.call<{ jwksJson: string }>((c, md, o, cb) => c.getJwks({ tenantId }, md, o, cb), options);
    return res.jwksJson;
  }

  close(): void {
    for (const c of this.clients) c.close();
  }

  private async call<Res>(invoke: Call<Res>, options: TransportCallOptions): Promise<Res> {
    const attempts: EndpointAttempt[] = [];
    let lastError: unknown;
    for (let i = 0; i < this.clients.length; i += 1) {
      const remaining = options.deadline - Date.now();
      if (remaining <= 0 || options.signal?.aborted === true) break;
      const endpoint = this.endpoints[i]!;
      try {
        return await new Promise<Res>((resolve, reject) => {
          const call = invoke(this.clients[i]!, new Metadata(), { deadline: Date.now() + Math.min(remaining, this.attemptTimeoutMs) }, (err, res) =>
            err ? reject(err) : resolve(res),
          ) as { cancel(): void };
          options.signal?.addEventListener('abort', () => call.cancel(), { once: true });
        });
      } catch (err) {
        const e = err as ServiceError;
        if (CALLER_ERROR_CODES.has(e.code)) {
          const oauth = readErrorTrailers(e).oauthError ?? 'invalid_request';
          throw new TokenRefusedError(`${endpoint} refused the request: ${oauth}: ${e.details}`, oauth, status[e.code], err);
        }
        attempts.push({ endpoint, status: status[e.code] ?? String(e.code), details: e.details ?? String(err) });
        lastError = err;
      }
    }
    const tried = attempts.map((a) => `${a.endpoint} ${a.status}`).join(', ');
    throw new MeshUnavailableError(`no gateway could issue a token${tried === '' ? ' before the deadline' : ` (${tried})`}`, attempts, lastError);
  }
}
