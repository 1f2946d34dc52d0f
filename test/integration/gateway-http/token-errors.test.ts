import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { ASSERTION_TYPE, tokenIssuer } from '../../../lib/token/index.js';
import { SCOPE, cryptoKeyOf, startHttpMesh, type HttpMesh } from './http-mesh.js';

interface Reply {
  status: number;
  headers: Headers;
  body: { error?: string; error_description?: string; access_token?: string };
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** RFC 6749 errors of the token endpoint, on real processes behind the gateway's HTTPS front. */
describe('gateway HTTPS token endpoint errors', function () {
  this.timeout(60_000);
  let h: HttpMesh;

  before(async () => {
    h = await startHttpMesh();
  });

  after(async () => {
    await h?.close();
  });

  async function post(body: string | URLSearchParams, headers: Record<string, string> = FORM, url = h.tokenUrl): Promise<Reply> {
    const res = await h.fetch(url, { method: 'POST', headers, body: String(body) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text === '' ? {} : (JSON.parse(text) as Reply['body']) };
  }

  const secretForm = (over: Record<string, string> = {}): URLSearchParams =>
    new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE, client_id: h.secretWorkload.clientId, client_secret: h.secretWorkload.secret, ...over });

  function assertError(r: Reply, status: number, error: string): void {
    assert.equal(r.status, status, JSON.stringify(r.body));
    assert.equal(r.body.error, error);
    assert.equal(typeof r.body.error_description, 'string');
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.headers.get('pragma'), 'no-cache');
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  }

  it('issues a token with no-store headers when client_secret_post is right (baseline)', async () => {
    const r = await post(secretForm());
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.access_token);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.headers.get('authmesh-fault-domain'), 'regional/eastus');
  });

  it('answers a token as RFC 6749 JSON with its length, content type, no-store, nosniff and the mesh headers', async () => {
    // A percent-encoded scope and a '+' for a space in an ignored parameter: the form as browsers and SDKs send it.
    const res = await h.fetch(h.tokenUrl, { method: 'POST', headers: FORM, body: `${secretForm().toString()}&note=a+b%20c` });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const body = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ['access_token', 'token_type', 'expires_in', 'refresh_in']);
    assert.equal(typeof body.access_token, 'string');
    assert.equal(body.token_type, 'Bearer');
    assert.equal(typeof body.expires_in, 'number');
    assert.ok((body.expires_in as number) > 0);
    assert.equal(typeof body.refresh_in, 'number');
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(res.headers.get('content-length'), String(Buffer.byteLength(text)));
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('pragma'), 'no-cache');
    assert.equal(res.headers.get('authmesh-fault-domain'), 'regional/eastus');
    assert.equal(res.headers.get('authmesh-attempts'), '1');
  });

  it('answers 415 invalid_request when the body is JSON', async () => {
    const r = await post(JSON.stringify(Object.fromEntries(secretForm())), { 'content-type': 'application/json' });
    assertError(r, 415, 'invalid_request');
  });

  it('answers 415 invalid_request when the content type is missing', async () => {
    assertError(await post(secretForm(), {}), 415, 'invalid_request');
  });

  it('answers 400 invalid_request when grant_type is missing', async () => {
    const form = secretForm();
    form.delete('grant_type');
    const r = await post(form);
    assertError(r, 400, 'invalid_request');
    assert.match(r.body.error_description!, /grant_type/);
  });

  it('answers 400 unsupported_grant_type without echoing it when the grant is password', async () => {
    const r = await post(secretForm({ grant_type: 'password<script>' }));
    assertError(r, 400, 'unsupported_grant_type');
    assert.doesNotMatch(r.body.error_description!, /password|script/);
  });

  it('answers 400 invalid_request when a parameter is repeated', async () => {
    assertError(await post(`${secretForm()}&scope=${encodeURIComponent(SCOPE)}`), 400, 'invalid_request');
  });

  it('answers 401 invalid_client with WWW-Authenticate and no echo when client_secret_post carries a wrong secret', async () => {
    const r = await post(secretForm({ client_secret: 'wrong-secret-value' }));
    assertError(r, 401, 'invalid_client');
    assert.match(r.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    assert.doesNotMatch(r.body.error_description!, /wrong-secret-value/);
  });

  it('answers 401 invalid_client with a Basic challenge when client_secret_basic carries a wrong secret', async () => {
    const form = secretForm();
    form.delete('client_secret');
    form.delete('client_id');
    const basic = Buffer.from(`${h.secretWorkload.clientId}:wrong`).toString('base64');
    const r = await post(form, { ...FORM, authorization: `Basic ${basic}` });
    assertError(r, 401, 'invalid_client');
    assert.match(r.headers.get('www-authenticate') ?? '', /^Basic realm="authmesh"/);
  });

  it('answers 401 invalid_client when the Basic credentials are malformed', async () => {
    const form = secretForm();
    form.delete('client_secret');
    const r = await post(form, { ...FORM, authorization: 'Basic !!!' });
    assertError(r, 401, 'invalid_client');
    assert.match(r.headers.get('www-authenticate') ?? '', /^Basic /);
  });

  it('answers 401 invalid_client when private_key_jwt is signed by a key the client did not register', async () => {
    const { privateKey } = await import('node:crypto').then((c) => c.generateKeyPairSync('ec', { namedCurve: 'P-256' }));
    const { kid } = await cryptoKeyOf(h.certWorkload);
    const now = Math.floor(Date.now() / 1000);
    const w = h.certWorkload;
    const assertion = await new SignJWT({ iss: w.clientId, sub: w.clientId, aud: tokenIssuer(h.base, w.tenantId), iat: now, exp: now + 300, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid })
      .sign(privateKey);
    const r = await post(new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE, client_id: w.clientId, client_assertion: assertion, client_assertion_type: ASSERTION_TYPE }));
    assertError(r, 401, 'invalid_client');
    assert.ok(r.headers.get('www-authenticate'));
  });

  it('answers 401 invalid_client when private_key_jwt names another audience', async () => {
    const w = h.certWorkload;
    const now = Math.floor(Date.now() / 1000);
    const { kid } = await cryptoKeyOf(w);
    const assertion = await new SignJWT({ iss: w.clientId, sub: w.clientId, aud: 'https://elsewhere.example/token', iat: now, exp: now + 300, jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid })
      .sign(w.privateKey);
    const r = await post(new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE, client_assertion: assertion, client_assertion_type: ASSERTION_TYPE }));
    assertError(r, 401, 'invalid_client');
  });

  it('answers 401 invalid_client when no client authentication is sent', async () => {
    const r = await post(new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE, client_id: h.secretWorkload.clientId }));
    assertError(r, 401, 'invalid_client');
  });

  it('answers 400 invalid_request when two client authentication methods are sent', async () => {
    const basic = Buffer.from(`${h.secretWorkload.clientId}:${h.secretWorkload.secret}`).toString('base64');
    assertError(await post(secretForm(), { ...FORM, authorization: `Basic ${basic}` }), 400, 'invalid_request');
  });

  it('answers 400 invalid_scope when the scope is not <resource>/.default', async () => {
    assertError(await post(secretForm({ scope: 'https://storage.authmesh.local/Blob.Read' })), 400, 'invalid_scope');
  });

  it('answers 413 invalid_request when the body is larger than 64 KiB', async () => {
    const r = await post(secretForm({ padding: 'x'.repeat(70 * 1024) }));
    assertError(r, 413, 'invalid_request');
  });

  it('answers 405 with Allow: POST when the token endpoint is read with GET', async () => {
    const res = await h.fetch(h.tokenUrl);
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'POST');
  });

  it('answers 404 when the tenant segment is not a tenant id', async () => {
    const r = await post(secretForm(), FORM, `${h.base}/bad%20tenant/oauth2/v2.0/token`);
    assert.equal(r.status, 404);
  });
});
