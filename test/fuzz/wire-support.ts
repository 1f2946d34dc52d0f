import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { credentials, Client, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { AcquireTokenRequest, AcquireTokenResponse } from '../../gen/authmesh/token/v1/token.js';
import { ASSERTION_TYPE, DEFAULT_ISSUER, assertionAudience, keyIdOf } from '../../lib/token/index.js';
import { call, startTestGlobal, type TestGlobal } from '../support/global-harness.js';
import { waitForServing } from '../support/spawn-service.js';
import { signedJws } from './arbitraries.js';

export const RESOURCE = 'https://storage.example';

/** OAuth error code → the one gRPC status it may travel with. */
export const STATUS_OF_OAUTH: Readonly<Record<string, status>> = Object.freeze({
  invalid_request: status.INVALID_ARGUMENT,
  invalid_scope: status.INVALID_ARGUMENT,
  invalid_client: status.UNAUTHENTICATED,
  unauthorized_client: status.PERMISSION_DENIED,
});

/** A global in this process with one tenant, resource, and a client holding a key and a secret. */
export interface FuzzTarget {
  g: TestGlobal;
  tenantId: string;
  clientId: string;
  secret: string;
  privateKey: KeyObject;
  keyId: string;
  close(): Promise<void>;
}

export async function startFuzzTarget(): Promise<FuzzTarget> {
  const g = await startTestGlobal();
  const { tenantId } = await call<{ tenantId: string }>(g.admin, 'createTenant', { name: 'fuzz' }, g.adminAuth);
  const { clientId } = await call<{ clientId: string }>(g.admin, 'createApp', { tenantId, name: 'fuzzed' }, g.adminAuth);
  await call(g.admin, 'createResource', { tenantId, identifier: RESOURCE, roles: ['read'] }, g.adminAuth);
  await call(g.admin, 'grantRole', { tenantId, clientId, resource: RESOURCE, role: 'read' }, g.adminAuth);
  const { secret } = await call<{ secret: string }>(g.admin, 'addSecretCredential', { tenantId, clientId }, g.adminAuth);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await call(g.admin, 'addCertificateCredential', { tenantId, clientId, pem: publicKey.export({ format: 'pem', type: 'spki' }).toString() }, g.adminAuth);
  const keyId = await keyIdOf(privateKey);
  return { g, tenantId, clientId, secret, privateKey, keyId, close: () => g.close() };
}

/** Claims of a good assertion for the target's client, overridable one by one. */
export const goodClaims = (t: FuzzTarget, over: Record<string, unknown> = {}): Record<string, unknown> => {
  const now = Math.floor(Date.now() / 1000);
  return { iss: t.clientId, sub: t.clientId, aud: assertionAudience(DEFAULT_ISSUER, t.tenantId), iat: now, exp: now + 600, jti: randomUUID(), ...over };
};

export const goodAssertion = (t: FuzzTarget): string => signedJws({ alg: 'ES256', kid: t.keyId }, goodClaims(t), t.privateKey);

export const tokenRequest = (t: FuzzTarget, over: Partial<AcquireTokenRequest> = {}): AcquireTokenRequest => ({
  tenantId: t.tenantId,
  clientId: t.clientId,
  scope: `${RESOURCE}/.default`,
  clientAssertion: '',
  clientAssertionType: ASSERTION_TYPE,
  clientSecret: '',
  ...over,
});

export interface WireOutcome {
  response?: AcquireTokenResponse;
  error?: ServiceError;
}

/** One AcquireToken through the generated client; never throws. */
export function acquireOnWire(t: FuzzTarget, req: AcquireTokenRequest): Promise<WireOutcome> {
  return new Promise((resolve) => {
    t.g.token.acquireToken(req, new Metadata(), { deadline: Date.now() + 5000 }, (err, res) => resolve(err ? { error: err } : { response: res }));
  });
}

/** Asserts a refusal: a status from the table with its oauth-error, and no token. */
export function assertRefused(out: { error?: ServiceError; response?: unknown }, allowed: readonly string[] = Object.keys(STATUS_OF_OAUTH)): void {
  assert.ok(out.error !== undefined, 'a token was issued');
  const oauth = out.error.metadata.get('oauth-error').map(String);
  assert.equal(oauth.length, 1, `no oauth-error with ${status[out.error.code]} ${out.error.details}`);
  assert.ok(allowed.includes(oauth[0]!), `oauth-error ${oauth[0]} (${out.error.details}) not in ${allowed.join(', ')}`);
  assert.equal(out.error.code, STATUS_OF_OAUTH[oauth[0]!], `status ${status[out.error.code]} for ${oauth[0]}`);
}

/** The server still answers health and still issues a token for a good request. */
export async function assertStillServing(t: FuzzTarget): Promise<void> {
  await waitForServing(t.g.server.address, 3000);
  const out = await acquireOnWire(t, tokenRequest(t, { clientAssertion: goodAssertion(t) }));
  assert.ok(out.response !== undefined, `a good request failed after fuzzing: ${out.error?.details}`);
  const secret = await acquireOnWire(t, tokenRequest(t, { clientSecret: t.secret, clientAssertionType: '' }));
  assert.ok(secret.response !== undefined, `a good secret request failed after fuzzing: ${secret.error?.details}`);
}

/** Sends raw bytes as the request message of `path` and resolves with the raw outcome. */
export function rawUnary(client: Client, path: string, body: Buffer, metadata = new Metadata()): Promise<{ error?: ServiceError; response?: Buffer }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      path,
      (b) => b,
      (b) => b,
      body,
      metadata,
      { deadline: Date.now() + 5000 },
      (err, res) => resolve(err ? { error: err } : { response: res! }),
    );
  });
}

export const rawClient = (address: string): Client => new Client(address, credentials.createInsecure());
