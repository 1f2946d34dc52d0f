/**
 * The one-process anchor: a grpc-js server whose AcquireToken verifies the ES256 client assertion
 * (signature, audience, expiry) and signs an ES256 JWT access token on every call, with
 * node:crypto and nothing cached. Reads the client's public JWK from `--client-jwk <json>` and the
 * expected audience from `--aud`; prints `{"listening":"127.0.0.1:<port>"}` once bound. Bench anchor only.
 */
import { createPublicKey, generateKeyPairSync, randomUUID, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { AcquireTokenRequest, AcquireTokenResponse } from '../../gen/authmesh/token/v1/token.js';

export const ANCHOR_PATH = '/authmesh.token.v1.TokenService/AcquireToken';
const identity = (b: Buffer): Buffer => b;

/** Verifies an ES256 compact JWS against `key` and returns its claims, or a reason it is refused. */
export function verifyAssertion(jws: string, key: KeyObject, aud: string, nowS: number): { claims: Record<string, unknown> } | { error: string } {
  const parts = jws.split('.');
  if (parts.length !== 3) return { error: 'not a compact JWS' };
  const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2]!, 'base64url'));
  if (!ok) return { error: 'bad signature' };
  const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
  if (claims.aud !== aud) return { error: 'wrong audience' };
  if (typeof claims.exp !== 'number' || claims.exp <= nowS) return { error: 'expired' };
  return { claims };
}

function main(argv: string[]): void {
  const arg = (name: string): string => {
    const i = argv.indexOf(`--${name}`);
    if (i < 0) throw new Error(`--${name} is required`);
    return argv[i + 1]!;
  };
  const clientKey = createPublicKey({ key: JSON.parse(arg('client-jwk')) as JsonWebKey, format: 'jwk' });
  const aud = arg('aud');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: 'anchor-1' })).toString('base64url');
  const handler = (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>): void => {
    const req = AcquireTokenRequest.decode(call.request);
    const now = Math.floor(Date.now() / 1000);
    const v = verifyAssertion(req.clientAssertion, clientKey, aud, now);
    if ('error' in v) {
      cb({ code: status.UNAUTHENTICATED, details: v.error });
      return;
    }
    const payload = Buffer.from(
      JSON.stringify({ iss: 'https://anchor.authmesh.local', sub: req.clientId, aud: req.scope.replace(/\/\.default$/, ''), client_id: req.clientId, iat: now, exp: now + 3600, jti: randomUUID(), roles: ['Blob.Read'] }),
    ).toString('base64url');
    const input = `${header}.${payload}`;
    const token = `${input}.${sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    const u8 = AcquireTokenResponse.encode({ accessToken: token, tokenType: 'Bearer', expiresIn: 3600, refreshIn: 1800, faultDomain: 'anchor' }).finish();
    cb(null, Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength));
  };
  const server = new Server();
  server.addService(
    { acquireToken: { path: ANCHOR_PATH, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } },
    { acquireToken: handler },
  );
  server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    console.log(JSON.stringify({ listening: `127.0.0.1:${port}` }));
  });
  process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
}

if (require.main === module) main(process.argv.slice(2));
