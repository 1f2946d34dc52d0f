import assert from 'node:assert/strict';
import { createServer as createHttpsServer, Agent as HttpsAgent, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { credentials, Metadata, Server, ServerCredentials, status, type ServerUnaryCall, type sendUnaryData, type ServiceError } from '@grpc/grpc-js';
import { agentPolicy, bearerTokenAuthenticationPolicy, createDefaultHttpClient, createEmptyPipeline, createPipelineRequest } from '@azure/core-rest-pipeline';
import { azureTokenCredential, CertificateCredential, grpcCallCredentials } from '../../client/index.js';
import { StorageServiceClient, StorageServiceService, type ReadBlobRequest, type ReadBlobResponse } from '../../gen/authmesh/storage/v1/storage.js';
import { generateCa, issueServerCert } from '../../lib/tls/index.js';
import { bearerMiddleware, httpsJwksSource, TokenVerifier, verifiedTokenOf, verifierInterceptor, type AuthenticatedRequest } from '../../verifier/index.js';
import { SCOPE, startHttpMesh, type HttpMesh } from '../integration/gateway-http/http-mesh.js';
import { RESOURCE } from '../support/mesh-harness.js';

interface CallOutcome {
  ok: boolean;
  code?: status;
  details?: string;
  oauthError?: string;
  clientId?: string;
}

/**
 * Where applications meet the mesh, against real mesh processes and real signatures: grpc-js
 * call credentials from the SDK, the verifier as a grpc-js server interceptor and as HTTP
 * middleware with RFC 6750 answers, its key set read over HTTPS from the gateway's jwks_uri,
 * and the SDK credential inside an Azure SDK pipeline.
 */
describe('client and verifier glue (system)', function () {
  this.timeout(120_000);
  let h: HttpMesh;
  let gatewayCa: string;
  let credential: CertificateCredential;
  let verifier: TokenVerifier;
  let grpcServer: Server;
  let storage: StorageServiceClient;
  let httpsServer: HttpsServer;
  let httpsUrl: string;
  let httpsCa: string;

  before(async () => {
    h = await startHttpMesh();
    gatewayCa = readFileSync(path.join(h.mesh.dir, 'gateway-eastus', 'tls', 'ca.pem'), 'utf8');
    const w = h.certWorkload;
    credential = new CertificateCredential(w.tenantId, w.clientId, w.privateKey, { endpoints: [h.mesh.address('gateway-eastus')], issuer: h.base });
    // The key set comes over HTTPS: discovery at the issuer names the jwks_uri, trusted through the gateway's CA only.
    verifier = new TokenVerifier({ keys: httpsJwksSource({ issuer: h.issuer, ca: gatewayCa }), tenantId: h.tenantId, audience: RESOURCE, issuer: h.base });

    grpcServer = new Server({
      interceptors: [verifierInterceptor(verifier, { requiredRoles: (p) => (p.endsWith('/ReadBlob') ? ['Blob.Read'] : ['Blob.Write']) })],
    });
    grpcServer.addService(StorageServiceService, {
      readBlob: (call: ServerUnaryCall<ReadBlobRequest, ReadBlobResponse>, cb: sendUnaryData<ReadBlobResponse>) => {
        const verified = verifiedTokenOf(call);
        cb(null, { name: call.request.name, content: Buffer.alloc(0), tokenFaultDomain: verified?.faultDomain ?? '', callerClientId: verified?.clientId ?? 'none' });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    storage = new StorageServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());

    const ca = generateCa('glue test CA');
    httpsCa = ca.certPem;
    const cert = issueServerCert(ca, { hosts: ['127.0.0.1'] });
    const readers = bearerMiddleware(verifier, { requiredRoles: ['Blob.Read'], realm: 'storage' });
    const writers = bearerMiddleware(verifier, { requiredRoles: ['Blob.Write'] });
    httpsServer = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      const guard = req.url === '/write' ? writers : readers;
      guard(req, res, (err) => {
        if (err !== undefined) {
          res.statusCode = 500;
          res.end();
          return;
        }
        const auth = (req as AuthenticatedRequest).auth!;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ clientId: auth.clientId, roles: auth.roles, faultDomain: auth.faultDomain }));
      });
    });
    await new Promise<void>((resolve) => httpsServer.listen(0, '127.0.0.1', resolve));
    httpsUrl = `https://127.0.0.1:${(httpsServer.address() as AddressInfo).port}`;
  });

  after(async () => {
    storage?.close();
    credential?.close();
    grpcServer?.forceShutdown();
    await new Promise<void>((resolve) => (httpsServer === undefined ? resolve() : httpsServer.close(() => resolve())));
    await h?.close();
  });

  const readBlob = (md: Metadata, callCredentials?: ReturnType<typeof grpcCallCredentials>, method: 'readBlob' = 'readBlob'): Promise<CallOutcome> =>
    new Promise((resolve) => {
      storage[method]({ name: 'a.txt' }, md, { deadline: Date.now() + 5000, ...(callCredentials === undefined ? {} : { credentials: callCredentials }) }, (err: ServiceError | null, res: ReadBlobResponse) => {
        if (err === null) resolve({ ok: true, clientId: res.callerClientId });
        else resolve({ ok: false, code: err.code, details: err.details, ...(err.metadata.get('oauth-error')[0] === undefined ? {} : { oauthError: String(err.metadata.get('oauth-error')[0]) }) });
      });
    });

  describe('grpcCallCredentials and verifierInterceptor', () => {
    it('lets a call through with the token from grpcCallCredentials, and the handler reads the verified client id', async () => {
      const out = await readBlob(new Metadata(), grpcCallCredentials(credential, SCOPE));
      assert.deepEqual(out, { ok: true, clientId: h.certWorkload.clientId });
    });

    it('answers UNAUTHENTICATED without an oauth-error code to a call with no token, and the handler never runs', async () => {
      const out = await readBlob(new Metadata());
      assert.equal(out.code, status.UNAUTHENTICATED);
      assert.equal(out.oauthError, undefined);
      assert.equal(out.details, 'a bearer token is required');
    });

    it('answers UNAUTHENTICATED invalid_token to a token whose signature was altered', async () => {
      const { token } = await credential.getToken(SCOPE);
      const md = new Metadata();
      md.set('authorization', `Bearer ${token.slice(0, -4)}${token.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`);
      const out = await readBlob(md);
      assert.equal(out.code, status.UNAUTHENTICATED);
      assert.equal(out.oauthError, 'invalid_token');
    });

    it('answers PERMISSION_DENIED insufficient_scope when the token lacks the role the method requires', async () => {
      const strict = new Server({ interceptors: [verifierInterceptor(verifier, { requiredRoles: ['Blob.Write'] })] });
      strict.addService(StorageServiceService, { readBlob: (_c: unknown, cb: sendUnaryData<ReadBlobResponse>) => cb(null, { name: 'x', content: Buffer.alloc(0), tokenFaultDomain: '', callerClientId: '' }) });
      const port = await new Promise<number>((resolve, reject) => strict.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
      const client = new StorageServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
      try {
        const out = await new Promise<CallOutcome>((resolve) => client.readBlob({ name: 'a' }, new Metadata(), { credentials: grpcCallCredentials(credential, SCOPE) }, (err: ServiceError | null) =>
          resolve(err === null ? { ok: true } : { ok: false, code: err.code, oauthError: String(err.metadata.get('oauth-error')[0]) })));
        assert.deepEqual(out, { ok: false, code: status.PERMISSION_DENIED, oauthError: 'insufficient_scope' });
      } finally {
        client.close();
        strict.forceShutdown();
      }
    });

    it('fails the call UNAUTHENTICATED before it is sent when the mesh refuses the credential', async () => {
      const stranger = new CertificateCredential(h.tenantId, '00000000-0000-4000-8000-000000000000', h.certWorkload.privateKey, { endpoints: [h.mesh.address('gateway-eastus')], issuer: h.base });
      try {
        const out = await readBlob(new Metadata(), grpcCallCredentials(stranger, SCOPE));
        assert.equal(out.code, status.UNAUTHENTICATED);
        assert.match(out.details ?? '', /invalid_client/);
      } finally {
        stranger.close();
      }
    });
  });

  describe('bearerMiddleware over HTTPS', () => {
    const agent = (): HttpsAgent => new HttpsAgent({ ca: httpsCa });
    const get = async (url: string, authorization?: string): Promise<{ status: number; challenge: string | null; body: string }> => {
      const { request } = await import('node:https');
      return new Promise((resolve, reject) => {
        const req = request(url, { agent: agent(), headers: authorization === undefined ? {} : { authorization } }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, challenge: (res.headers['www-authenticate'] as string | undefined) ?? null, body }));
        });
        req.on('error', reject);
        req.end();
      });
    };

    it('answers 401 with a bare Bearer challenge (RFC 6750 section 3.1) to a request without a token', async () => {
      const res = await get(`${httpsUrl}/read`);
      assert.deepEqual({ status: res.status, challenge: res.challenge, body: res.body }, { status: 401, challenge: 'Bearer realm="storage"', body: '' });
    });

    it('answers 401 invalid_token to an altered token and 400 invalid_request to a malformed header', async () => {
      const { token } = await credential.getToken(SCOPE);
      const forged = await get(`${httpsUrl}/read`, `Bearer ${token.slice(0, -4)}${token.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`);
      assert.equal(forged.status, 401);
      assert.match(forged.challenge ?? '', /^Bearer realm="storage", error="invalid_token", error_description="[^"]+"$/);
      assert.equal(JSON.parse(forged.body).error, 'invalid_token');
      const malformed = await get(`${httpsUrl}/read`, 'Bearer a b');
      assert.equal(malformed.status, 400);
      assert.match(malformed.challenge ?? '', /error="invalid_request"/);
    });

    it('answers 403 insufficient_scope to a valid token without the required role', async () => {
      const { token } = await credential.getToken(SCOPE);
      const res = await get(`${httpsUrl}/write`, `Bearer ${token}`);
      assert.equal(res.status, 403);
      assert.match(res.challenge ?? '', /^Bearer error="insufficient_scope", error_description="the token lacks the role Blob.Write"$/);
    });

    it('serves an Azure SDK pipeline whose bearerTokenAuthenticationPolicy gets its token from azureTokenCredential', async () => {
      const pipeline = createEmptyPipeline();
      pipeline.addPolicy(agentPolicy(agent()));
      pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential: azureTokenCredential(credential), scopes: SCOPE }));
      const client = createDefaultHttpClient();
      const res = await pipeline.sendRequest(client, createPipelineRequest({ url: `${httpsUrl}/read` }));
      assert.equal(res.status, 200, res.bodyAsText ?? '');
      assert.deepEqual(JSON.parse(res.bodyAsText ?? '{}'), { clientId: h.certWorkload.clientId, roles: ['Blob.Read'], faultDomain: 'regional/eastus' });

      const refused = await pipeline.sendRequest(client, createPipelineRequest({ url: `${httpsUrl}/write` }));
      assert.equal(refused.status, 403);
    });

    it('rejects an abort from the Azure SDK with ERR_ABORTED while the token request is pending', async () => {
      const fresh = new CertificateCredential(h.tenantId, h.certWorkload.clientId, h.certWorkload.privateKey, { endpoints: [h.mesh.address('gateway-eastus')], issuer: h.base });
      try {
        const controller = new AbortController();
        const pending = azureTokenCredential(fresh).getToken([SCOPE], { abortSignal: controller.signal });
        controller.abort();
        await assert.rejects(pending, (err: { code?: string }) => err.code === 'ERR_ABORTED');
        await assert.rejects(azureTokenCredential(fresh).getToken([SCOPE, SCOPE]), (err: { code?: string }) => err.code === 'ERR_INVALID_SCOPE');
      } finally {
        fresh.close();
      }
    });
  });

  describe('when the key set cannot be fetched', () => {
    it('answers 503 with Retry-After over HTTP and UNAVAILABLE over gRPC, not a refusal of the token', async () => {
      const blind = new TokenVerifier({ keys: () => Promise.reject(new Error('no key set')), tenantId: h.tenantId, audience: RESOURCE, issuer: h.base });
      const { token } = await credential.getToken(SCOPE);
      const server = createHttpsServer({ ...(() => { const c = issueServerCert(generateCa('blind CA'), { hosts: ['127.0.0.1'] }); return { cert: c.certPem, key: c.keyPem }; })() }, (req, res) =>
        bearerMiddleware(blind)(req, res, () => res.end('served')));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const grpc = new Server({ interceptors: [verifierInterceptor(blind)] });
      grpc.addService(StorageServiceService, { readBlob: (_c: unknown, cb: sendUnaryData<ReadBlobResponse>) => cb(null, { name: 'x', content: Buffer.alloc(0), tokenFaultDomain: '', callerClientId: '' }) });
      const port = await new Promise<number>((resolve, reject) => grpc.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
      const client = new StorageServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
      try {
        const { request } = await import('node:https');
        const http = await new Promise<{ status: number; retryAfter: string | undefined; body: string }>((resolve, reject) => {
          const req = request(`https://127.0.0.1:${(server.address() as AddressInfo).port}/`, { rejectUnauthorized: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body }));
          });
          req.on('error', reject);
          req.end();
        });
        assert.deepEqual({ status: http.status, retryAfter: http.retryAfter, error: JSON.parse(http.body).error }, { status: 503, retryAfter: '5', error: 'temporarily_unavailable' });
        const md = new Metadata();
        md.set('authorization', `Bearer ${token}`);
        const code = await new Promise<status | undefined>((resolve) => client.readBlob({ name: 'a' }, md, (err: ServiceError | null) => resolve(err?.code)));
        assert.equal(code, status.UNAVAILABLE);
      } finally {
        client.close();
        grpc.forceShutdown();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  });

  describe('httpsJwksSource', () => {
    it('reads the tenant key set from the jwks_uri of the HTTPS front, trusting only the CA it is given', async () => {
      const { token } = await credential.getToken(SCOPE);
      const direct = new TokenVerifier({ keys: httpsJwksSource({ jwksUri: `${h.base}/${h.tenantId}/discovery/v2.0/keys`, ca: gatewayCa }), tenantId: h.tenantId, audience: RESOURCE, issuer: h.base });
      assert.equal((await direct.verify(token)).clientId, h.certWorkload.clientId);
      // Another CA than the gateway's: TLS fails, and with no key set the token cannot be checked.
      const untrusted = new TokenVerifier({ keys: httpsJwksSource({ jwksUri: `${h.base}/${h.tenantId}/discovery/v2.0/keys`, ca: httpsCa }), tenantId: h.tenantId, audience: RESOURCE, issuer: h.base });
      await assert.rejects(untrusted.verify(token), (err: { code?: string }) => err.code === 'ERR_JWKS_UNAVAILABLE');
      assert.throws(() => httpsJwksSource({ jwksUri: `http://127.0.0.1:1/${h.tenantId}/discovery/v2.0/keys` }), /not an https: URL/);
    });
  });
});
