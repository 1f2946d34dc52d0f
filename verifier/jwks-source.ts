import type { JSONWebKeySet } from 'jose';
import { GrpcTokenTransport } from '../client/grpc-token-transport.js';

/** Where the key set comes from: a gateway, a file, a constant. Throws when it cannot be read. */
export type JwksSource = () => Promise<JSONWebKeySet>;

/** A fixed key set, e.g. read from a file or pinned in tests. */
export const localJwksSource = (set: JSONWebKeySet): JwksSource => () => Promise.resolve(set);

export interface GatewayJwksSourceOptions {
  /** Gateway endpoints, home region first. */
  endpoints: readonly string[];
  /** Tenant whose key set is read. */
  tenantId: string;
  /** Timeout of one fetch across all endpoints, in ms. Default 5000. */
  timeoutMs?: number;
}

/** Reads the key set through the gateways' `GetJwks`, trying each endpoint in order. */
export function gatewayJwksSource(options: GatewayJwksSourceOptions): JwksSource & { close(): void } {
  const transport = new GrpcTokenTransport({ endpoints: options.endpoints, attemptTimeoutMs: 2000 });
  const source = async (): Promise<JSONWebKeySet> => {
    const json = await transport.getJwks(options.tenantId, { deadline: Date.now() + (options.timeoutMs ?? 5000) });
    return JSON.parse(json) as JSONWebKeySet;
  };
  return Object.assign(source, { close: () => transport.close() });
}
