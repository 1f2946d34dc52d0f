import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writePrivateFile } from '../token/index.js';
import { certificateFits, createDevCa, DEFAULT_SERVER_HOSTS, issueServerCert, type CertificateAuthority, type ServerCertOptions } from './dev-ca.js';

/** Prefix of the URI SAN that names a mesh member: `spiffe://authmesh.local/<name>`. */
export const MESH_ID_PREFIX = 'spiffe://authmesh.local/';

/** A mesh member name: `global`, `regional-eastus`, `gateway-westus`, `backup`, `admin`, ... */
const MEMBER = /^[a-z][a-z0-9-]{0,62}$/;

/** Where a member's certificate and key were written. */
export interface MeshCertFiles {
  ca: string;
  cert: string;
  key: string;
}

/** The mesh CA kept in `dir` (`ca.pem`, `ca-key.pem`), created on first use. */
export function createMeshCa(dir: string): CertificateAuthority {
  return createDevCa(dir, 'authmesh mesh CA');
}

/**
 * Issues a certificate for mesh member `name`, valid for TLS server and client authentication:
 * the identity in a URI SAN and the CN, the loopback names as DNS/IP SANs so peers on 127.0.0.1
 * can check the server name.
 */
export function issueMeshCert(ca: CertificateAuthority, name: string, options: ServerCertOptions = {}): { certPem: string; keyPem: string } {
  if (!MEMBER.test(name)) throw new Error(`"${name}" is not a mesh member name`);
  return issueServerCert(ca, { hosts: DEFAULT_SERVER_HOSTS, ...options, commonName: name, uris: [`${MESH_ID_PREFIX}${name}`], clientAuth: true });
}

/**
 * The certificate of member `name` in `dir` (`<name>.pem`, `<name>-key.pem`, key mode 0600):
 * reused while it still fits the CA and names the member, issued again otherwise.
 */
export function loadOrIssueMeshCert(dir: string, ca: CertificateAuthority, name: string, options: ServerCertOptions = {}): MeshCertFiles {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}-key.pem`);
  const hosts = options.hosts ?? DEFAULT_SERVER_HOSTS;
  if (existsSync(cert) && existsSync(key)) {
    const pem = readFileSync(cert, 'utf8');
    if (certificateFits(pem, ca, hosts) && meshIdentityOfPem(pem) === name) return { ca: ca.certPath ?? path.join(dir, 'ca.pem'), cert, key };
  }
  const issued = issueMeshCert(ca, name, options);
  writePrivateFile(key, issued.keyPem);
  writePrivateFile(cert, issued.certPem);
  return { ca: ca.certPath ?? path.join(dir, 'ca.pem'), cert, key };
}

/**
 * The mesh member a certificate names: the first `spiffe://authmesh.local/<name>` URI SAN.
 * Undefined for a certificate without one (the CN alone is never trusted as an identity).
 * `subjectAltName` is Node's text form, e.g. `URI:spiffe://authmesh.local/global, IP Address:127.0.0.1`.
 */
export function meshIdentityOf(subjectAltName: string | undefined): string | undefined {
  if (subjectAltName === undefined) return undefined;
  for (const part of subjectAltName.split(/,\s*/)) {
    if (!part.startsWith(`URI:${MESH_ID_PREFIX}`)) continue;
    const name = part.slice(`URI:${MESH_ID_PREFIX}`.length);
    if (MEMBER.test(name)) return name;
  }
  return undefined;
}

export function meshIdentityOfPem(certPem: string): string | undefined {
  try {
    return meshIdentityOf(new X509Certificate(certPem).subjectAltName);
  } catch {
    return undefined;
  }
}
