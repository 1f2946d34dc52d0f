/**
 * node-oidc-provider 9 as the peer: the client_credentials grant with an ES256 private_key_jwt
 * client and a client_secret_post client, JWT access tokens signed ES256, on 127.0.0.1 over
 * HTTP/1.1. Reads the client's public JWK from `--client-jwk <json>`; prints
 * `{"listening":"127.0.0.1:<port>"}` once bound. Bench anchor only.
 */
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';

export const PEER_RESOURCE = 'https://storage.authmesh.local';
export const PEER_SECRET = 'bench-secret-0123456789abcdef0123456789';

async function main(argv: string[]): Promise<void> {
  const i = argv.indexOf('--client-jwk');
  if (i < 0) throw new Error('--client-jwk is required');
  const clientJwk = JSON.parse(argv[i + 1]!) as Record<string, unknown>;
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signingJwk = { ...(privateKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'peer-1', alg: 'ES256', use: 'sig' };
  // oidc-provider is an ES module; this file compiles to CommonJS, so it is loaded with import().
  const moduleName = 'oidc-provider';
  type ProviderClass = new (issuer: string, config: object) => { callback(): http.RequestListener };
  const { default: Provider } = (await import(moduleName)) as { default: ProviderClass };
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'bench-jwt',
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: { keys: [clientJwk] },
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        scope: 'read',
        id_token_signed_response_alg: 'ES256',
      },
      {
        client_id: 'bench-secret',
        client_secret: PEER_SECRET,
        token_endpoint_auth_method: 'client_secret_post',
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        scope: 'read',
        id_token_signed_response_alg: 'ES256',
      },
    ],
    jwks: { keys: [signingJwk] },
    scopes: ['read'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => PEER_RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: 'read', audience: PEER_RESOURCE, accessTokenTTL: 3600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
      },
    },
  });
  server.on('request', provider.callback());
  console.log(JSON.stringify({ listening: `127.0.0.1:${port}`, issuer }));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
