import { readFileSync } from 'node:fs';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';

/**
 * How a client checks a gateway's TLS certificate. Give the CA as a file or as PEM; without a CA
 * the system's trust store is used. Every gateway client (SDK, verifier, CLI, identity agent)
 * takes these options.
 */
export interface GatewayTlsOptions {
  /** PEM file of the CA that signed the gateway's certificate. */
  caFile?: string;
  /** The same CA as PEM text or bytes; wins over `caFile`. */
  caPem?: string | Buffer;
  /**
   * The name the gateway's certificate must carry, when it differs from the host in the endpoint
   * (e.g. an IP address, or a load balancer's name). Default: the endpoint's host, or `localhost`
   * for a loopback IP address.
   */
  serverName?: string;
}

/** What a gRPC client of one gateway endpoint is built with. */
export interface GatewayChannel {
  credentials: ChannelCredentials;
  options: Record<string, string>;
}

const LOOPBACK_IP = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[?::1\]?)$/;

/** Reads the CA of `tls`; undefined means the system trust store. Throws naming the file. */
export function gatewayCaOf(tls: GatewayTlsOptions): Buffer | undefined {
  if (tls.caPem !== undefined) return Buffer.isBuffer(tls.caPem) ? tls.caPem : Buffer.from(tls.caPem);
  if (tls.caFile === undefined || tls.caFile === '') return undefined;
  try {
    return readFileSync(tls.caFile);
  } catch (err) {
    throw new Error(`cannot read the gateway CA ${tls.caFile}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Channel credentials and options for `endpoint`: TLS checked against the CA (and server name) of
 * `tls`, or plaintext when `tls` is undefined (local development only).
 */
export function gatewayChannel(endpoint: string, tls: GatewayTlsOptions | undefined): GatewayChannel {
  if (tls === undefined) return { credentials: credentials.createInsecure(), options: {} };
  const host = endpoint.slice(0, endpoint.lastIndexOf(':'));
  // TLS never sends an IP address as the SNI name (RFC 6066); loopback certificates carry `localhost`.
  const serverName = tls.serverName ?? (LOOPBACK_IP.test(host) ? 'localhost' : undefined);
  const options: Record<string, string> = serverName === undefined ? {} : { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName };
  return { credentials: credentials.createSsl(gatewayCaOf(tls) ?? null), options };
}
