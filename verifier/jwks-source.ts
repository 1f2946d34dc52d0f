import type { ChannelCredentials } from '@grpc/grpc-js';
import type { JSONWebKeySet } from 'jose';
import type { GatewayTlsOptions } from '../client/gateway-tls.js';
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
  /**
   * TLS to the gateways (CA, server name). Without it the key set is read over plaintext, where a
   * man in the middle could serve a key set of its own: set it everywhere but a local mesh.
   */
  tls?: GatewayTlsOptions;
  /** Channel credentials, for anything `tls` does not cover; wins over `tls`. */
  channelCredentials?: ChannelCredentials;
}

/** Reads the key set through the gateways' `GetJwks`, trying each endpoint in order. */
export function gatewayJwksSource(options: GatewayJwksSourceOptions): JwksSource & { close(): void } {
  const transport = new GrpcTokenTransport({
    endpoints: options.endpoints,
    attemptTimeoutMs: 2000,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.channelCredentials === undefined ? {} : { channelCredentials: options.channelCredentials }),
  });
  const source = async (): Promise<JSONWebKeySet> => {
    const json = await transport.getJwks(options.tenantId, { deadline: Date.now() + (options.timeoutMs ?? 5000) });
    return JSON.parse(json) as JSONWebKeySet;
  };
  return Object.assign(source, { close: () => transport.close() });
}
