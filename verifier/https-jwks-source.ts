import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { createRemoteJWKSet, customFetch, type FetchImplementation, type JSONWebKeySet } from 'jose';
import type { JwksSource } from './jwks-source.js';

export interface HttpsJwksSourceOptions {
  /** The `jwks_uri` of the mesh's HTTPS front (`<issuer base>/<tenant>/discovery/v2.0/keys`). */
  jwksUri?: string;
  /**
   * Or the tenant's issuer (`<issuer base>/<tenant>/v2.0`): `jwks_uri` is read from its
   * `/.well-known/openid-configuration` on the first fetch.
   */
  issuer?: string;
  /** PEM of the CA to trust (e.g. the gateway's development CA); default the system trust store. */
  ca?: string | Buffer;
  /** The same CA as a PEM file; `ca` wins. */
  caFile?: string;
  /** Timeout of one HTTP request, in ms. Default 5000. */
  timeoutMs?: number;
}

/** Largest discovery or key set document read, in bytes. */
const MAX_BODY_BYTES = 1 << 20;

/**
 * Reads the key set over HTTPS from the gateway's HTTPS front, with jose's `createRemoteJWKSet`
 * (which checks the document is a JWK Set) and a TLS client that trusts `ca`. Only `https:`
 * URLs are accepted. The {@link KeySetCache} around it decides when to fetch.
 */
export function httpsJwksSource(options: HttpsJwksSourceOptions): JwksSource {
  if ((options.jwksUri === undefined) === (options.issuer === undefined)) throw new Error('give one of jwksUri and issuer');
  const ca = options.ca ?? (options.caFile === undefined ? undefined : readFileSync(options.caFile));
  const timeoutMs = options.timeoutMs ?? 5000;
  const fetchOverTls = httpsFetch(ca);
  let remote: ReturnType<typeof createRemoteJWKSet> | undefined;
  const open = (uri: string): ReturnType<typeof createRemoteJWKSet> =>
    createRemoteJWKSet(httpsUrl(uri), { timeoutDuration: timeoutMs, cooldownDuration: 0, [customFetch]: fetchOverTls });
  if (options.jwksUri !== undefined) remote = open(options.jwksUri);

  return async (): Promise<JSONWebKeySet> => {
    remote ??= open(await discoverJwksUri(options.issuer!, fetchOverTls, timeoutMs));
    await remote.reload();
    const set = remote.jwks();
    if (set === undefined) throw new Error('the key set could not be read');
    return set;
  };
}

async function discoverJwksUri(issuer: string, fetchOverTls: FetchImplementation, timeoutMs: number): Promise<string> {
  const url = new URL(`${httpsUrl(issuer).href.replace(/\/$/, '')}/.well-known/openid-configuration`);
  const res = await fetchOverTls(url.href, { headers: new Headers({ accept: 'application/json' }), method: 'GET', redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  if (res.status !== 200) throw new Error(`discovery at ${url.href} answered ${res.status}`);
  const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
  if (doc.issuer !== issuer) throw new Error(`discovery at ${url.href} names the issuer ${JSON.stringify(doc.issuer)}, not ${issuer}`);
  if (typeof doc.jwks_uri !== 'string') throw new Error(`discovery at ${url.href} has no jwks_uri`);
  return doc.jwks_uri;
}

function httpsUrl(uri: string): URL {
  const url = new URL(uri);
  if (url.protocol !== 'https:') throw new Error(`${uri} is not an https: URL`);
  return url;
}

/** The fetch jose calls, over node:https so a CA of one's own can be trusted. */
function httpsFetch(ca: string | Buffer | undefined): FetchImplementation {
  return (url, init) => new Promise<Response>((resolve, reject) => {
    const req = request(url, { method: init.method, headers: Object.fromEntries(init.headers), signal: init.signal, ...(ca === undefined ? {} : { ca }) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) req.destroy(new Error(`${url} sent more than ${MAX_BODY_BYTES} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        const type = res.headers['content-type'];
        resolve(new Response(Buffer.concat(chunks), { status: res.statusCode ?? 500, headers: type === undefined ? {} : { 'content-type': type } }));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
