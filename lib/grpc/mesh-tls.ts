import { readFileSync } from 'node:fs';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { credentials, ServerCredentials, type ChannelCredentials, type Metadata } from '@grpc/grpc-js';
import { meshIdentityOf, meshIdentityOfPem, type MeshCertFiles } from '../tls/mesh-certs.js';

/** This process's side of mutual TLS inside the mesh: the CA it trusts and its own certificate. */
export interface MeshTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** The mesh member the certificate names (`global`, `regional-eastus`, ...). */
  identity: string;
  /**
   * As a client: the mesh member the server must prove to be (its certificate's SPIFFE id), so
   * another member's certificate, equally signed by the mesh CA, cannot stand in for it.
   */
  expectPeer?: string;
}

/** Reads the three PEM files; throws with the file name when one is missing or names no member. */
export function loadMeshTls(files: MeshCertFiles): MeshTls {
  const read = (what: string, file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read the mesh ${what} ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  const ca = read('CA certificate', files.ca);
  const cert = read('certificate', files.cert);
  const key = read('private key', files.key);
  const identity = meshIdentityOfPem(cert.toString('utf8'));
  if (identity === undefined) throw new Error(`${files.cert} names no mesh member (URI SAN spiffe://authmesh.local/<name>)`);
  return { ca, cert, key, identity };
}

/**
 * Server side: TLS that requires a client certificate signed by the mesh CA (the handshake fails
 * for anyone else), or plaintext when mutual TLS is off.
 */
export function meshServerCredentials(tls: MeshTls | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(tls.ca, [{ private_key: tls.key, cert_chain: tls.cert }], true);
}

/**
 * A TLS `checkServerIdentity` that accepts only a server whose certificate names mesh member
 * `expected` in its SPIFFE URI SAN, on top of the usual host name check.
 */
export function meshPeerCheck(expected: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (host, cert) => {
    const peer = meshIdentityOf(cert.subjectaltname);
    if (peer !== expected) return new Error(`the server is mesh member ${peer ?? '(none)'}, not ${expected}`);
    return checkServerIdentity(host, cert);
  };
}

/**
 * Client side: present our certificate and trust only the mesh CA, or plaintext when off. With
 * `expectPeer` (or `tls.expectPeer`), the handshake fails unless the server is that mesh member.
 */
export function meshChannelCredentials(tls: MeshTls | undefined, expectPeer = tls?.expectPeer): ChannelCredentials {
  if (tls === undefined) return credentials.createInsecure();
  return credentials.createSsl(tls.ca, tls.key, tls.cert, expectPeer === undefined ? {} : { checkServerIdentity: meshPeerCheck(expectPeer) });
}

/** The mesh member that serves fault domain `domain`: `regional/eastus` is `regional-eastus`. */
export function memberOfDomain(domain: string): string {
  return domain.replace('/', '-');
}

const LOOPBACK_IP = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[?::1\]?)$/;

/**
 * Channel options for a client of `address` with `channelCredentials`: over TLS to a loopback IP,
 * the server is named `localhost` (which the mesh's certificates carry), so TLS never sends an IP
 * address as the SNI server name (RFC 6066 forbids it, and Node warns on every connection).
 */
export function meshChannelOptions(address: string, channelCredentials: ChannelCredentials): Record<string, string> {
  const first = address.split(',')[0]!;
  // Several instances of one tier: calls spread over the ones that are up, and skip one that is down.
  const balance: Record<string, string> = address.includes(',') ? { 'grpc.service_config': ROUND_ROBIN } : {};
  if (!channelCredentials._isSecure()) return balance;
  const host = first.slice(0, first.lastIndexOf(':'));
  return LOOPBACK_IP.test(host) ? { ...balance, 'grpc.ssl_target_name_override': 'localhost' } : balance;
}

const ROUND_ROBIN = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

/**
 * The grpc-js target for `address`: one `host:port` as it is, or several instances of one tier
 * (`10.0.0.1:50051,10.0.0.2:50051`) as one channel over all of them (`ipv4:` / `ipv6:` lists;
 * a list needs IP addresses, a name that resolves to several is one entry).
 */
export function meshTarget(address: string): string {
  if (!address.includes(',')) return address;
  const parts = address.split(',').map((a) => a.trim());
  if (parts.every((p) => /^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(p))) return `ipv4:${parts.join(',')}`;
  if (parts.every((p) => /^\[[0-9a-fA-F:]+\]:\d+$/.test(p))) return `ipv6:${parts.join(',')}`;
  throw new Error(`a list of addresses must be IP addresses of one family: ${address}`);
}

/** What a server call offers for authorization. */
interface CallWithPeer {
  getAuthContext?(): { sslPeerCertificate?: { subjectaltname?: string } } | null;
}

/** The mesh member named by the caller's verified client certificate; undefined over plaintext. */
export function peerIdentity(call: CallWithPeer): string | undefined {
  return meshIdentityOf(call.getAuthContext?.()?.sslPeerCertificate?.subjectaltname);
}

/** Decides one call from its metadata and the caller's mesh identity. */
export interface CallerCheck {
  allows(metadata: Metadata, peer: string | undefined): boolean;
}

/**
 * Allows mesh members whose certificate identity passes `members`, or (when given) a bearer
 * credential, e.g. the admin token for the CLI.
 */
export function meshCallerCheck(members: (identity: string) => boolean, bearer?: { allows(metadata: Metadata): boolean }): CallerCheck {
  return {
    allows: (metadata, peer) => (peer !== undefined && members(peer)) || (bearer?.allows(metadata) ?? false),
  };
}
