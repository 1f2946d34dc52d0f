import { randomUUID, sign, type KeyObject } from 'node:crypto';
import http from 'node:http';
import { PEER_RESOURCE, PEER_SECRET } from './oidc-peer.js';

const b64 = (v: string): string => Buffer.from(v).toString('base64url');

/**
 * Token requests to the node-oidc-provider peer over HTTP/1.1 keep-alive. A private_key_jwt
 * request carries a fresh assertion every time (the peer refuses a replayed `jti`), signed with
 * raw node:crypto so the load generator stays cheap.
 */
export class OidcPeerClient {
  private readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;
  private readonly header: string;

  constructor(
    address: string,
    private readonly issuer: string,
    private readonly clientKey: KeyObject,
    maxSockets: number,
  ) {
    const [host, port] = address.split(':') as [string, string];
    if (host !== '127.0.0.1') throw new Error(`bench targets 127.0.0.1 only, got ${address}`);
    this.host = host;
    this.port = Number(port);
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
    this.header = b64(JSON.stringify({ alg: 'ES256', typ: 'JWT' }));
  }

  private assertion(): string {
    const now = Math.floor(Date.now() / 1000);
    const payload = b64(JSON.stringify({ iss: 'bench-jwt', sub: 'bench-jwt', aud: this.issuer, iat: now, exp: now + 300, jti: randomUUID() }));
    const input = `${this.header}.${payload}`;
    return `${input}.${sign('sha256', Buffer.from(input), { key: this.clientKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  }

  /** One client_credentials request; resolves true when the peer returned an access token. */
  send(method: 'private_key_jwt' | 'client_secret_post', errors: string[]): Promise<boolean> {
    const form = new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', resource: PEER_RESOURCE });
    if (method === 'private_key_jwt') {
      form.set('client_id', 'bench-jwt');
      form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      form.set('client_assertion', this.assertion());
    } else {
      form.set('client_id', 'bench-secret');
      form.set('client_secret', PEER_SECRET);
    }
    const body = form.toString();
    return new Promise((resolve) => {
      const req = http.request(
        { host: this.host, port: this.port, path: '/token', method: 'POST', agent: this.agent, timeout: 5000, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const ok = res.statusCode === 200;
            if (!ok && errors.length < 5) errors.push(`${res.statusCode} ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`);
            resolve(ok);
          });
        },
      );
      req.on('error', (err) => {
        if (errors.length < 5) errors.push(err.message);
        resolve(false);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
