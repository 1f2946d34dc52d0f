import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import forge from 'node-forge';
import { writePrivateFile } from '../token/index.js';

/** A certificate authority that can sign server (and later client) certificates. */
export interface CertificateAuthority {
  /** The CA certificate, PEM: what clients add to their trust store. */
  certPem: string;
  /** The CA private key, PEM (PKCS#8); never leaves the folder it was written to. */
  keyPem: string;
  /** Where the CA certificate was written, when it came from a folder. */
  certPath?: string;
}

/** A leaf certificate and its key, PEM. */
export interface IssuedCertificate {
  certPem: string;
  keyPem: string;
}

/** Options of {@link issueServerCert}. */
export interface ServerCertOptions {
  /** DNS names and IP addresses the certificate is valid for. Default `127.0.0.1`, `::1`, `localhost`. */
  hosts?: readonly string[];
  /** Days of validity. Default 90. */
  validityDays?: number;
  /** Common name of the subject. Default the first host. */
  commonName?: string;
  /** The clock, for tests. Default `Date.now`. */
  now?: () => number;
  /** URI subject alternative names (a mesh identity such as `spiffe://authmesh.local/global`). */
  uris?: readonly string[];
  /** Also valid as a TLS client certificate (mutual TLS inside the mesh). Default false. */
  clientAuth?: boolean;
}

const CA_CERT = 'ca.pem';
const CA_KEY = 'ca-key.pem';
const DAY_MS = 86_400_000;
/** Backdating absorbs clock skew between the issuer and the peers that check the dates. */
const BACKDATE_MS = 5 * 60_000;
export const DEFAULT_SERVER_HOSTS: readonly string[] = Object.freeze(['127.0.0.1', '::1', 'localhost']);

function newRsaKey(): { forgeKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  // Key generation in node:crypto (native); node-forge only assembles and signs the certificate.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pkcs1 = privateKey.export({ format: 'pem', type: 'pkcs1' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pkcs1) as forge.pki.rsa.PrivateKey;
  return {
    forgeKey,
    publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e),
    pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

function serialNumber(): string {
  // Positive 128-bit serial (RFC 5280 section 4.1.2.2): the top bit cleared.
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}

/** Generates a new self-signed CA, valid for `validityDays` (default 3650). */
export function generateCa(commonName = 'authmesh development CA', validityDays = 3650, now: () => number = Date.now): CertificateAuthority {
  const key = newRsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now() - BACKDATE_MS);
  cert.validity.notAfter = new Date(now() + validityDays * DAY_MS);
  const subject = [{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'authmesh' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key.forgeKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: key.pem };
}

/**
 * The CA kept in `dir` (`ca.pem`, `ca-key.pem`): loaded when both files are there, generated and
 * written (key mode 0600) otherwise. The same folder always yields the same CA, so clients that
 * trust `ca.pem` keep trusting every certificate issued from it across restarts.
 */
export function createDevCa(dir: string, commonName?: string): CertificateAuthority {
  const certPath = path.join(dir, CA_CERT);
  const keyPath = path.join(dir, CA_KEY);
  if (existsSync(certPath) && existsSync(keyPath)) {
    return { certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8'), certPath };
  }
  const ca = generateCa(commonName);
  writePrivateFile(keyPath, ca.keyPem);
  writePrivateFile(certPath, ca.certPem);
  return { ...ca, certPath };
}

/** Issues a TLS server certificate for `hosts`, signed by `ca`. */
export function issueServerCert(ca: CertificateAuthority, options: ServerCertOptions = {}): IssuedCertificate {
  const hosts = options.hosts ?? DEFAULT_SERVER_HOSTS;
  if (hosts.length === 0) throw new Error('a server certificate needs at least one host');
  const now = options.now ?? Date.now;
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const key = newRsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = key.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now() - BACKDATE_MS);
  cert.validity.notAfter = new Date(now() + (options.validityDays ?? 90) * DAY_MS);
  cert.setSubject([{ name: 'commonName', value: options.commonName ?? hosts[0]! }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: options.clientAuth ?? false },
    {
      name: 'subjectAltName',
      altNames: [
        ...(options.uris ?? []).map((value) => ({ type: 6, value })),
        ...hosts.map((h) => (isIP(h) === 0 ? { type: 2, value: h } : { type: 7, ip: h })),
      ],
    },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: key.pem };
}

/**
 * Whether `certPem` was signed by `ca`, covers every host, and stays valid for at least `marginMs`.
 * Used to reuse a stored server certificate instead of issuing one at every start.
 */
export function certificateFits(certPem: string, ca: CertificateAuthority, hosts: readonly string[], marginMs = DAY_MS, now = Date.now()): boolean {
  try {
    const cert = new X509Certificate(certPem);
    if (!cert.verify(new X509Certificate(ca.certPem).publicKey)) return false;
    if (Date.parse(cert.validTo) - marginMs < now || Date.parse(cert.validFrom) > now) return false;
    return hosts.every((h) => (isIP(h) === 0 ? cert.checkHost(h) !== undefined : cert.checkIP(h) !== undefined));
  } catch {
    return false;
  }
}

/**
 * The server certificate kept in `dir` (`server.pem`, `server-key.pem`) next to the dev CA:
 * reused while it fits the CA and the hosts, issued again otherwise.
 */
export function loadOrIssueServerCert(dir: string, ca: CertificateAuthority, options: ServerCertOptions = {}): IssuedCertificate {
  const hosts = options.hosts ?? DEFAULT_SERVER_HOSTS;
  const certPath = path.join(dir, 'server.pem');
  const keyPath = path.join(dir, 'server-key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) {
    const certPem = readFileSync(certPath, 'utf8');
    if (certificateFits(certPem, ca, hosts, DAY_MS, (options.now ?? Date.now)())) return { certPem, keyPem: readFileSync(keyPath, 'utf8') };
  }
  const issued = issueServerCert(ca, options);
  writePrivateFile(keyPath, issued.keyPem);
  writePrivateFile(certPath, issued.certPem);
  return issued;
}
