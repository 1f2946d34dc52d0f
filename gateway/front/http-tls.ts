/** The certificate the HTTPS front serves: the configured files or a development certificate. */
import { mkdtempSync, readFileSync } from 'node:fs';
import type { ServerOptions } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { createDevCa, DEFAULT_SERVER_HOSTS, loadOrIssueServerCert } from '../../lib/tls/index.js';
import type { HttpFrontConfig } from './http-config.js';

/** What the HTTPS server is given, and where a client finds the CA to trust. */
export interface HttpTlsMaterial {
  cert: string;
  key: string;
  /** The development CA certificate file, when the certificate came from it. */
  caPath?: string;
}

/**
 * The certificate of the HTTPS front: the configured files when given, otherwise a development
 * certificate for the loopback names (and the listen / public host) from the dev CA kept in
 * `<data-dir>/tls`, created at first start. Undefined for the plaintext opt-in.
 */
export function resolveHttpTls(config: HttpFrontConfig): HttpTlsMaterial | undefined {
  if (config.plaintext) return undefined;
  if (config.tlsCertFile !== undefined && config.tlsKeyFile !== undefined) {
    return { cert: readFileSync(config.tlsCertFile, 'utf8'), key: readFileSync(config.tlsKeyFile, 'utf8') };
  }
  const dir = path.join(config.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'authmesh-gateway-')), 'tls');
  const hosts = new Set(DEFAULT_SERVER_HOSTS);
  const listenHost = config.listen.slice(0, config.listen.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1');
  if (listenHost !== '0.0.0.0' && listenHost !== '::') hosts.add(listenHost);
  if (config.publicUrl !== undefined) hosts.add(new URL(config.publicUrl).hostname.replace(/^\[(.*)\]$/, '$1'));
  const ca = createDevCa(dir, 'authmesh gateway development CA');
  const leaf = loadOrIssueServerCert(dir, ca, { hosts: [...hosts] });
  return { cert: `${leaf.certPem}${ca.certPem}`, key: leaf.keyPem, ...(ca.certPath === undefined ? {} : { caPath: ca.certPath }) };
}

/** The options of the HTTPS server for its certificate: TLS 1.2 and up. */
export function httpsServerOptions(tls: HttpTlsMaterial): ServerOptions {
  return { cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' };
}
