import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { IdentityAgentServiceClient } from '../gen/authmesh/agent/v1/agent.js';
import { CALLER_ERROR_CODES, readErrorTrailers } from '../lib/grpc/status-map.js';
import type { AccessToken } from './access-token.js';
import { MeshUnavailableError, TokenRefusedError } from './errors.js';
import type { TransportCallOptions } from './token-transport.js';

/**
 * Default address of the managed identity agent on every host: its Unix socket (mode 0660, so
 * the workload's user must be the agent's or in its group). An agent started with `--listen`
 * also answers on that loopback `host:port`.
 */
export const DEFAULT_AGENT_ENDPOINT = 'unix:/run/authmesh/agent.sock';

/** A gRPC target for an agent endpoint: `unix:<path>` and `host:port` as they are, a bare absolute path as `unix:<path>`. */
export function agentTarget(endpoint: string): string {
  return endpoint.startsWith('/') ? `unix:${endpoint}` : endpoint;
}

/** How a {@link ManagedIdentityCredential} reaches the host's identity agent. */
export interface AgentTransport {
  getToken(scope: string, options: TransportCallOptions): Promise<AccessToken>;
  close(): void;
}

/** {@link AgentTransport} over gRPC to `authmesh.agent.v1.IdentityAgentService`. */
export class GrpcAgentTransport implements AgentTransport {
  private readonly client: IdentityAgentServiceClient;

  constructor(readonly endpoint: string = DEFAULT_AGENT_ENDPOINT) {
    this.client = new IdentityAgentServiceClient(agentTarget(endpoint), credentials.createInsecure(), {
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 2000,
    });
  }

  getToken(scope: string, options: TransportCallOptions): Promise<AccessToken> {
    return new Promise((resolve, reject) => {
      const call = this.client.getToken({ scope }, new Metadata(), { deadline: options.deadline }, (err: ServiceError | null, res) => {
        if (err === null) {
          resolve({ token: res.accessToken, expiresOn: res.expiresOnMs, refreshAfter: res.refreshAfterMs, faultDomain: res.faultDomain });
        } else if (CALLER_ERROR_CODES.has(err.code)) {
          const oauth = readErrorTrailers(err).oauthError ?? 'invalid_request';
          reject(new TokenRefusedError(`identity agent refused the request: ${oauth}: ${err.details}`, oauth, status[err.code], err));
        } else {
          reject(new MeshUnavailableError(`identity agent at ${this.endpoint} could not provide a token: ${status[err.code]} ${err.details}`, [
            { endpoint: this.endpoint, status: status[err.code] ?? String(err.code), details: err.details },
          ], err));
        }
      });
      options.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  close(): void {
    this.client.close();
  }
}
