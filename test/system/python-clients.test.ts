import { generateKeyPairSync } from 'node:crypto';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as jose from 'jose';
import { FAULT_DOMAIN_CLAIM } from '../../lib/token/index.js';
import { RESOURCE } from '../support/mesh-harness.js';
import { SCOPE, startHttpMesh, type HttpMesh } from '../integration/gateway-http/http-mesh.js';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const EXAMPLES = path.join(ROOT, 'examples', 'python');
/** Debian's interpreter, where python3-grpcio, python3-grpc-tools and python3-authlib install. */
const PYTHON = '/usr/bin/python3';

/** Why the Python examples cannot run here, or undefined when they can. */
function missingPython(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import grpc, grpc_tools.protoc, authlib, requests'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) {
    return `${PYTHON} cannot import grpc, grpc_tools, authlib and requests (scripts/test-setup.sh installs python3-grpcio python3-grpc-tools python3-authlib python3-requests)`;
  }
  return undefined;
}

interface Run {
  code: number;
  out: Record<string, unknown>;
}

/** Runs a script of examples/python with Debian's python3; its stdout is one JSON object. */
function runPython(script: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) =>
    execFile(PYTHON, [path.join(EXAMPLES, script), ...args], { timeout: 30_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      try {
        resolve({ code, out: JSON.parse(stdout) as Record<string, unknown> });
      } catch {
        reject(new Error(`${script} exited ${code} without JSON:\n${stdout}\n${stderr}`));
      }
    }),
  );
}

/**
 * The Python examples against real global, regional and gateway processes: the grpcio client
 * on stubs generated from proto/ with grpc_tools.protoc, and Authlib's OAuth2Session against the
 * HTTPS token endpoint. Every token is verified here with jose against the JWK Set the HTTPS
 * front publishes.
 */
describe('Python clients (system)', function () {
  this.timeout(120_000);
  let h: HttpMesh;
  let stubs: string;
  let secretFile: string;
  let wrongSecretFile: string;
  let keyFile: string;
  let ca: string;
  let jwks: ReturnType<typeof jose.createRemoteJWKSet>;

  before(async function () {
    const missing = missingPython();
    if (missing !== undefined) {
      console.log(`      skipped: ${missing}`);
      this.skip();
    }
    h = await startHttpMesh();
    stubs = path.join(h.mesh.dir, 'python-stubs');
    const gen = spawnSync(path.join(EXAMPLES, 'generate.sh'), [stubs], { encoding: 'utf8', env: { ...process.env, PYTHON } });
    assert.equal(gen.status, 0, gen.stderr);
    secretFile = path.join(h.mesh.dir, 'python-client-secret');
    fs.writeFileSync(secretFile, h.secretWorkload.secret, { mode: 0o600 });
    wrongSecretFile = path.join(h.mesh.dir, 'python-wrong-secret');
    fs.writeFileSync(wrongSecretFile, 'not-the-secret', { mode: 0o600 });
    keyFile = path.join(h.mesh.dir, 'python-client-key.pem');
    fs.writeFileSync(keyFile, h.certWorkload.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    ca = path.join(h.mesh.dir, 'gateway-eastus', 'tls', 'ca.pem');
    jwks = jose.createRemoteJWKSet(new URL(`${h.base}/${h.tenantId}/discovery/v2.0/keys`), { [jose.customFetch]: h.fetch });
  });

  after(async () => {
    await h?.close();
  });

  /** Verifies an access token against the HTTPS JWK Set and returns its claims. */
  async function verified(token: unknown): Promise<jose.JWTPayload> {
    assert.equal(typeof token, 'string', 'no access_token');
    const { payload } = await jose.jwtVerify(token as string, jwks, { issuer: h.issuer, audience: RESOURCE, typ: 'at+jwt' });
    return payload;
  }

  const grpcArgs = (...more: string[]): string[] => [
    '--target', h.mesh.address('gateway-eastus'), '--tenant', h.tenantId, '--scope', SCOPE, '--stubs', stubs, ...more,
  ];

  /** token_authlib.py's arguments: `credential` is --client-secret-file or --private-key and its file. */
  const authlibArgs = (auth: string, clientId: string, ...credential: string[]): string[] => [
    '--token-url', h.tokenUrl, '--client-id', clientId, '--scope', SCOPE, '--auth', auth, '--ca-file', ca, ...credential,
  ];

  it('generates messages and a TokenService stub from proto/ with grpc_tools.protoc', () => {
    const v1 = path.join(stubs, 'authmesh', 'token', 'v1');
    assert.match(fs.readFileSync(path.join(v1, 'token_pb2_grpc.py'), 'utf8'), /'\/authmesh\.token\.v1\.TokenService\/AcquireToken'/);
    assert.match(fs.readFileSync(path.join(v1, 'token_pb2.py'), 'utf8'), /AcquireTokenRequest/);
  });

  it('gets a token over gRPC with a client secret, verified against the published JWK Set, and the same set from GetJwks', async () => {
    const r = await runPython('token_grpc.py', grpcArgs('--client-id', h.secretWorkload.clientId, '--client-secret-file', secretFile, '--jwks'));
    assert.equal(r.code, 0, JSON.stringify(r.out));
    assert.equal(r.out.token_type, 'Bearer');
    assert.equal(r.out.fault_domain, 'regional/eastus');
    assert.ok(Number(r.out.expires_in) > Number(r.out.refresh_in) && Number(r.out.refresh_in) > 0);
    const payload = await verified(r.out.access_token);
    assert.equal(payload.client_id, h.secretWorkload.clientId);
    assert.equal(payload[FAULT_DOMAIN_CLAIM], 'regional/eastus');
    const published = (await (await h.fetch(`${h.base}/${h.tenantId}/discovery/v2.0/keys`)).json()) as jose.JSONWebKeySet;
    assert.deepEqual(r.out.jwks, published);
  });

  it('gets a token over gRPC with an RFC 7523 assertion the Python client signs with its private key', async () => {
    const r = await runPython('token_grpc.py', grpcArgs('--client-id', h.certWorkload.clientId, '--private-key', keyFile, '--audience', h.tokenUrl));
    assert.equal(r.code, 0, JSON.stringify(r.out));
    const payload = await verified(r.out.access_token);
    assert.equal(payload.client_id, h.certWorkload.clientId);
  });

  it('names a P-256 key whose coordinate starts with a zero byte by the thumbprint the mesh registered it under', async () => {
    // Authlib's thumbprint() drops such a byte (about one key in 128); the example builds the kid itself.
    let keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const zeroLead = (k: typeof keys): boolean => {
      const jwk = k.publicKey.export({ format: 'jwk' });
      return Buffer.from(jwk.x!, 'base64url')[0] === 0 || Buffer.from(jwk.y!, 'base64url')[0] === 0;
    };
    for (let i = 0; i < 10_000 && !zeroLead(keys); i += 1) keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.ok(zeroLead(keys), 'no key with a leading zero byte in 10,000 tries');
    const w = await h.mesh.addWorkload('python-zero-lead', keys);
    assert.equal(w.tenantId, h.tenantId);
    const file = path.join(h.mesh.dir, 'python-zero-lead-key.pem');
    fs.writeFileSync(file, keys.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const r = await runPython('token_grpc.py', grpcArgs('--client-id', w.clientId, '--private-key', file, '--audience', h.tokenUrl));
    assert.equal(r.code, 0, JSON.stringify(r.out));
    assert.equal((await verified(r.out.access_token)).client_id, w.clientId);
  });

  it('reports UNAUTHENTICATED with oauth-error invalid_client from the trailers when the secret is wrong over gRPC', async () => {
    const r = await runPython('token_grpc.py', grpcArgs('--client-id', h.secretWorkload.clientId, '--client-secret-file', wrongSecretFile));
    assert.equal(r.code, 1);
    assert.deepEqual([r.out.grpc_status, r.out.error], ['UNAUTHENTICATED', 'invalid_client']);
    assert.equal(r.out.access_token, undefined);
  });

  for (const auth of ['client_secret_post', 'client_secret_basic'] as const) {
    it(`gets a token over HTTPS with Authlib's OAuth2Session and ${auth}`, async () => {
      const r = await runPython('token_authlib.py', authlibArgs(auth, h.secretWorkload.clientId, '--client-secret-file', secretFile));
      assert.equal(r.code, 0, JSON.stringify(r.out));
      assert.equal(String(r.out.token_type).toLowerCase(), 'bearer');
      const payload = await verified(r.out.access_token);
      assert.equal(payload.client_id, h.secretWorkload.clientId);
    });
  }

  it("gets a token over HTTPS with Authlib's OAuth2Session and private_key_jwt", async () => {
    const r = await runPython('token_authlib.py', authlibArgs('private_key_jwt', h.certWorkload.clientId, '--private-key', keyFile));
    assert.equal(r.code, 0, JSON.stringify(r.out));
    const payload = await verified(r.out.access_token);
    assert.equal(payload.client_id, h.certWorkload.clientId);
  });

  it('surfaces invalid_client through Authlib when the secret is wrong over HTTPS', async () => {
    const r = await runPython('token_authlib.py', authlibArgs('client_secret_post', h.secretWorkload.clientId, '--client-secret-file', wrongSecretFile));
    assert.equal(r.code, 1);
    assert.equal(r.out.error, 'invalid_client');
    assert.equal(r.out.access_token, undefined);
  });
});
