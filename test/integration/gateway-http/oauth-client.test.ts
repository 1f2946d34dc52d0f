import assert from 'node:assert/strict';
import * as jose from 'jose';
import * as client from 'openid-client';
import { FAULT_DOMAIN_CLAIM } from '../../../lib/token/index.js';
import { RESOURCE } from '../../support/mesh-harness.js';
import { SCOPE, cryptoKeyOf, startHttpMesh, type HttpMesh } from './http-mesh.js';

/**
 * The gateway's OAuth 2.0 / OpenID Connect front as an existing OAuth client sees it:
 * openid-client discovers the issuer and runs the client credentials grant, and jose checks the
 * tokens against the published jwks_uri. Real global, regional and gateway processes.
 */
describe('gateway HTTPS front with openid-client', function () {
  this.timeout(60_000);
  let h: HttpMesh;

  before(async () => {
    h = await startHttpMesh();
  });

  after(async () => {
    await h?.close();
  });

  const discover = (clientId: string, auth: client.ClientAuth): Promise<client.Configuration> =>
    client.discovery(new URL(h.issuer), clientId, undefined, auth, { [client.customFetch]: h.fetch });

  async function verify(accessToken: string, jwksUri: string): Promise<jose.JWTPayload> {
    const jwks = jose.createRemoteJWKSet(new URL(jwksUri), { [jose.customFetch]: h.fetch });
    const { payload, protectedHeader } = await jwtVerifyWith(accessToken, jwks);
    assert.equal(protectedHeader.typ, 'at+jwt');
    return payload;
  }

  const jwtVerifyWith = (token: string, jwks: ReturnType<typeof jose.createRemoteJWKSet>) =>
    jose.jwtVerify(token, jwks, { issuer: h.issuer, audience: RESOURCE, typ: 'at+jwt' });

  it('publishes discovery metadata whose issuer and endpoints openid-client accepts when discovering the tenant issuer', async () => {
    const { key, kid } = await cryptoKeyOf(h.certWorkload);
    const config = await discover(h.certWorkload.clientId, client.PrivateKeyJwt({ key, kid } as never));
    const meta = config.serverMetadata();
    assert.equal(meta.issuer, h.issuer);
    assert.equal(meta.token_endpoint, h.tokenUrl);
    assert.equal(meta.jwks_uri, `${h.base}/${h.tenantId}/discovery/v2.0/keys`);
    assert.deepEqual(meta.token_endpoint_auth_methods_supported, ['private_key_jwt', 'client_secret_post', 'client_secret_basic']);
    assert.deepEqual(meta.grant_types_supported, ['client_credentials']);
  });

  it('issues a token that verifies against jwks_uri when openid-client authenticates with private_key_jwt', async () => {
    const { key, kid } = await cryptoKeyOf(h.certWorkload);
    const config = await discover(h.certWorkload.clientId, client.PrivateKeyJwt({ key, kid } as never));
    const tokens = await client.clientCredentialsGrant(config, { scope: SCOPE });
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok((tokens.expires_in ?? 0) > 0);
    assert.ok(typeof tokens.refresh_in === 'number' && tokens.refresh_in > 0 && tokens.refresh_in < tokens.expires_in!);
    const payload = await verify(tokens.access_token, config.serverMetadata().jwks_uri!);
    assert.equal(payload.client_id, h.certWorkload.clientId);
    assert.equal(payload[FAULT_DOMAIN_CLAIM], 'regional/eastus');
  });

  it('issues a token that verifies against jwks_uri when openid-client authenticates with client_secret_post', async () => {
    const config = await discover(h.secretWorkload.clientId, client.ClientSecretPost(h.secretWorkload.secret));
    const tokens = await client.clientCredentialsGrant(config, { scope: SCOPE });
    const payload = await verify(tokens.access_token, config.serverMetadata().jwks_uri!);
    assert.equal(payload.client_id, h.secretWorkload.clientId);
  });

  it('issues a token when openid-client authenticates with client_secret_basic', async () => {
    const config = await discover(h.secretWorkload.clientId, client.ClientSecretBasic(h.secretWorkload.secret));
    const tokens = await client.clientCredentialsGrant(config, { scope: SCOPE });
    const payload = await verify(tokens.access_token, config.serverMetadata().jwks_uri!);
    assert.equal(payload.client_id, h.secretWorkload.clientId);
  });

  it('answers 401 invalid_client with a Basic challenge that openid-client surfaces when the secret is wrong', async () => {
    const config = await discover(h.secretWorkload.clientId, client.ClientSecretPost('not-the-secret'));
    let caught: unknown;
    await client.clientCredentialsGrant(config, { scope: SCOPE }).catch((e: unknown) => (caught = e));
    assert.ok(caught instanceof client.WWWAuthenticateChallengeError, String(caught));
    assert.equal(caught.status, 401);
    assert.equal(caught.cause[0]?.scheme, 'basic');
    const body = (await caught.response.json()) as { error: string };
    assert.equal(body.error, 'invalid_client');
  });

  it('serves discovery and the key set with max-age and an ETag, and 304 when If-None-Match matches', async () => {
    for (const url of [`${h.issuer}/.well-known/openid-configuration`, `${h.base}/${h.tenantId}/discovery/v2.0/keys`]) {
      const first = await h.fetch(url);
      assert.equal(first.status, 200);
      assert.match(first.headers.get('cache-control') ?? '', /max-age=\d+/);
      const etag = first.headers.get('etag');
      assert.ok(etag);
      const again = await h.fetch(url, { headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304);
    }
  });
});
