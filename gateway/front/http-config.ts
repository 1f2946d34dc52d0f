/** Flags and validated config of the HTTPS OAuth 2.0 / OpenID Connect front. */
import { isIP } from 'node:net';
import type { OptionSpecs } from '../../lib/config/index.js';
import { DEFAULT_ISSUER } from '../../lib/token/index.js';

/** How the HTTPS (OAuth 2.0 / OpenID Connect) front of the gateway is set up. */
export interface HttpFrontConfig {
  /** host:port to listen on (port 0 picks one). */
  listen: string;
  /**
   * Issuer base URL, the same as `--issuer` of every fault domain: tokens carry
   * `<issuer>/<tenant>/v2.0` and discovery documents say so.
   */
  issuer: string;
  /**
   * Base URL this gateway's endpoints are reached at (token endpoint, jwks_uri); undefined means
   * `https://<listen address>` once it is bound.
   */
  publicUrl: string | undefined;
  /** Serve plain HTTP instead of HTTPS (explicit opt-in, for a TLS-terminating proxy in front). */
  plaintext: boolean;
  /** PEM files of a real certificate and key; both or neither. */
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  /** Folder of the development CA and server certificate; undefined means a new temporary folder. */
  dataDir: string | undefined;
  /** Largest request body accepted, bytes. */
  maxBodyBytes: number;
}

/** Flags of the HTTP front, merged into the gateway's option specs. */
export const HTTP_OPTIONS = {
  'http-listen': { type: 'string', describe: 'host:port of the HTTPS OAuth 2.0 / OpenID Connect endpoints (make run-mesh: 127.0.0.1:50443 for eastus); empty = off', default: '', check: optionalHostPort },
  issuer: { type: 'string', describe: 'issuer base URL, the same as --issuer of global and regional', default: DEFAULT_ISSUER, check: baseUrl },
  'public-url': { type: 'string', describe: 'base URL of this gateway\'s HTTP endpoints; empty = https://<http-listen>', default: '', check: optionalBaseUrl },
  'http-plaintext': { type: 'bool', describe: 'serve plain HTTP instead of HTTPS (only behind a TLS-terminating proxy)', default: 'false' },
  'tls-cert': { type: 'string', describe: 'PEM certificate (chain) of the HTTPS endpoint; empty = development certificate', default: '' },
  'tls-key': { type: 'string', describe: 'PEM private key of --tls-cert', default: '' },
  'data-dir': { type: 'string', describe: 'folder of the development CA and certificate; empty = a new temporary folder', default: '' },
  'http-max-body': { type: 'int', describe: 'largest request body of the HTTP endpoints, bytes', default: '65536', check: bodyLimit },
} as const satisfies OptionSpecs;

function optionalHostPort(v: unknown): string | undefined {
  const text = String(v);
  if (text === '') return undefined;
  const m = /^(.+):(\d{1,5})$/.exec(text);
  if (m === null || Number(m[2]) > 65535) return `expected host:port, got "${text}"`;
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
  return isIP(host) !== 0 || host === 'localhost' ? undefined : `expected an IP address or localhost, got "${text}"`;
}

function baseUrl(v: unknown): string | undefined {
  const text = String(v);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `expected an absolute URL, got "${text}"`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `expected an http(s) URL, got "${text}"`;
  if (url.search !== '' || url.hash !== '') return `must not have a query or fragment, got "${text}"`;
  return text.endsWith('/') ? `must not end with "/", got "${text}"` : undefined;
}

function optionalBaseUrl(v: unknown): string | undefined {
  return String(v) === '' ? undefined : baseUrl(v);
}

function bodyLimit(v: unknown): string | undefined {
  return typeof v === 'number' && v >= 1024 && v <= 1_048_576 ? undefined : `must be 1024..1048576, got ${String(v)}`;
}

/** The parsed values of {@link HTTP_OPTIONS}. */
export interface HttpFlags {
  'http-listen': string;
  issuer: string;
  'public-url': string;
  'http-plaintext': boolean;
  'tls-cert': string;
  'tls-key': string;
  'data-dir': string;
  'http-max-body': number;
}

/** Builds the HTTP front config from parsed flags; undefined when the front is off. Pushes problems. */
export function httpFrontConfig(c: HttpFlags, problems: string[]): HttpFrontConfig | undefined {
  if ((c['tls-cert'] === '') !== (c['tls-key'] === '')) problems.push('--tls-cert and --tls-key go together');
  if (c['http-plaintext'] && c['tls-cert'] !== '') problems.push('--http-plaintext and --tls-cert exclude each other');
  if (c['http-listen'] === '') return undefined;
  return Object.freeze({
    listen: c['http-listen'],
    issuer: c.issuer,
    publicUrl: c['public-url'] === '' ? undefined : c['public-url'],
    plaintext: c['http-plaintext'],
    tlsCertFile: c['tls-cert'] === '' ? undefined : c['tls-cert'],
    tlsKeyFile: c['tls-key'] === '' ? undefined : c['tls-key'],
    dataDir: c['data-dir'] === '' ? undefined : c['data-dir'],
    maxBodyBytes: c['http-max-body'],
  });
}
