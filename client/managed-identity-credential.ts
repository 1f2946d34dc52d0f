import { systemClock, type Clock } from '../lib/clock/index.js';
import { deadlineMs, type AccessToken, type GetTokenOptions, type TokenCredential } from './access-token.js';
import { DEFAULT_AGENT_ENDPOINT, GrpcAgentTransport, type AgentTransport } from './agent-transport.js';
import { TokenCache } from './token-cache.js';

export interface ManagedIdentityCredentialOptions {
  /** Address of the host's identity agent: `unix:<path>`, an absolute socket path, or a loopback `host:port`. Default `unix:/run/authmesh/agent.sock`. */
  endpoint?: string;
  /** How the agent is reached. Default gRPC to `endpoint`. */
  transport?: AgentTransport;
  /** Token cache, shareable between credentials. */
  cache?: TokenCache;
  clock?: Clock;
  /** Timeout of a request a caller waits on when it passes no deadline, in ms. Default 10000. */
  requestTimeoutMs?: number;
}

/**
 * The host's identity: no secret or key in the workload. Tokens come from the identity agent on
 * the host, which holds and rotates the credential; they are cached here as well, so a workload
 * keeps its token across an agent restart.
 */
export class ManagedIdentityCredential implements TokenCredential {
  private readonly endpoint: string;
  private readonly transport: AgentTransport;
  private readonly ownsTransport: boolean;
  private readonly cache: TokenCache;
  private readonly requestTimeoutMs: number;

  constructor(options: ManagedIdentityCredentialOptions = {}) {
    this.endpoint = options.endpoint ?? DEFAULT_AGENT_ENDPOINT;
    this.ownsTransport = options.transport === undefined;
    this.transport = options.transport ?? new GrpcAgentTransport(this.endpoint);
    this.cache = options.cache ?? new TokenCache({ clock: options.clock ?? systemClock });
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  getToken(scope: string, options: GetTokenOptions = {}): Promise<AccessToken> {
    return this.cache.get(`managed\n${this.endpoint}\n${scope}`, (deadline) => this.transport.getToken(scope, { deadline }), {
      deadline: deadlineMs(options.deadline, Date.now() + this.requestTimeoutMs),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  close(): void {
    if (this.ownsTransport) this.transport.close();
  }
}
