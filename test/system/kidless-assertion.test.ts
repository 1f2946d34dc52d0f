import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { assertionAudience } from '../../lib/token/index.js';
import { acquire } from '../support/mesh-harness.js';
import { SCOPE, startHttpMesh, type HttpMesh } from '../integration/gateway-http/http-mesh.js';

/** Authlib's PrivateKeyJWT as a generic OAuth client uses it: no `kid` in the header. */
const AUTHLIB_CLIENT = `
import json, ssl, sys, urllib.error, urllib.parse, urllib.request
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc7523 import PrivateKeyJWT
token_url, client_id, key_path, ca_path, scope = sys.argv[1:6]
auth = ClientAuth(client_id, open(key_path).read(), PrivateKeyJWT(token_url, alg='ES256'))
body = urllib.parse.urlencode({'grant_type': 'client_credentials', 'scope': scope})
uri, headers, body = auth.prepare('POST', token_url, {'Content-Type': 'application/x-www-form-urlencoded'}, body)
request = urllib.request.Request(uri, data=body.encode(), headers=headers, method='POST')
try:
    with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=ca_path), timeout=10) as r:
        out = {'status': r.status, 'body': json.loads(r.read())}
except urllib.error.HTTPError as e:
    out = {'status': e.code, 'body': json.loads(e.read())}
out['assertion'] = dict(urllib.parse.parse_qsl(body))['client_assertion']
print(json.dumps(out))
`;

/** The first Python that can import Authlib, or why none can. */
function pythonWithAuthlib(): { python: string } | { reason: string } {
  for (const python of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(python, ['-c', 'import authlib'], { encoding: 'utf8' });
    if (r.error === undefined && r.status === 0) return { python };
  }
  return { reason: 'no python3 on PATH or /usr/bin can import authlib (apt-get install python3-authlib)' };
}

/**
 * Assertions without `kid` (RFC 7523 does not require one) on real processes: the gateway's gRPC
 * front and its HTTPS OAuth front issue when one of the client's valid certificate keys signed,
 * and Authlib's default PrivateKeyJWT gets a token.
 */
describe('client assertions without kid (system)', function () {
  this.timeout(90_000);
  let h: HttpMesh;

  before(async () => {
    h = await startHttpMesh();
  });

  after(async () => {
    await h?.close();
  });

  const kidless = (over: Record<string, unknown> = {}, key = h.certWorkload.privateKey): Promise<string> => {
    const w = h.certWorkload;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: w.clientId, sub: w.clientId, aud: assertionAudience(h.base, w.tenantId), iat: now, exp: now + 300, jti: randomUUID(), ...over })
      .setProtectedHeader({ alg: 'ES256' })
      .sign(key);
  };

  it('issues through the gRPC front for an assertion without kid signed by the client key', async () => {
    const assertion = await kidless();
    assert.equal(decodeProtectedHeader(assertion).kid, undefined);
    const out = await acquire(h.mesh.tokenClient('gateway-eastus'), { ...h.certWorkload, assertion });
    assert.ok(out.response !== undefined, out.error?.details);
    assert.equal(decodeJwt(out.response.accessToken).client_id, h.certWorkload.clientId);
  });

  it('issues through the HTTPS front for an assertion without kid, and refuses one signed by a stranger key', async () => {
    const post = async (assertion: string): Promise<{ status: number; body: Record<string, unknown> }> => {
      const res = await h.fetch(h.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }).toString(),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const good = await post(await kidless());
    assert.equal(good.status, 200, JSON.stringify(good.body));
    assert.equal(decodeJwt(String(good.body.access_token)).client_id, h.certWorkload.clientId);
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const bad = await post(await kidless({}, stranger));
    assert.equal(bad.status, 401, JSON.stringify(bad.body));
    assert.equal(bad.body.error, 'invalid_client');
    assert.equal(bad.body.access_token, undefined);
  });

  it("gets a token with Authlib's PrivateKeyJWT, which sends no kid", async function () {
    const found = pythonWithAuthlib();
    if ('reason' in found) {
      console.log(`      skipped: ${found.reason}`);
      this.skip();
    }
    const keyFile = path.join(h.mesh.dir, 'authlib-client-key.pem');
    fs.writeFileSync(keyFile, h.certWorkload.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const ca = path.join(h.mesh.dir, 'gateway-eastus', 'tls', 'ca.pem');
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(found.python, ['-c', AUTHLIB_CLIENT, h.tokenUrl, h.certWorkload.clientId, keyFile, ca, SCOPE], { timeout: 30_000 }, (err, out, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out),
      ),
    );
    const out = JSON.parse(stdout) as { status: number; body: Record<string, unknown>; assertion: string };
    const header = decodeProtectedHeader(out.assertion);
    console.log(`      Authlib assertion header ${JSON.stringify(header)}; answer ${out.status}`);
    assert.equal(header.kid, undefined, 'Authlib sent a kid: this test would not exercise the kid-less path');
    assert.equal(out.status, 200, JSON.stringify(out.body));
    assert.equal(decodeJwt(String(out.body.access_token)).client_id, h.certWorkload.clientId);
  });
});
