import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { CredentialKind } from '../../../gen/authmesh/directory/v1/directory.js';
import { ASSERTION_TYPE, DEFAULT_ISSUER, buildAssertion, hashSecret, parseCredentialPem } from '../../../lib/token/index.js';
import { startFakeDirectoryServer, type FakeDirectoryServer } from '../../support/fake-directory-server.js';
import { FakeDirectory, makeIdentity, makeTenant } from '../../support/fake-directory.js';
import { spawnService } from '../../support/spawn-service.js';
import { eventually, freePort, startRegional, type RegionalProcess } from './regional-harness.js';

const MESH = 'integration-mesh-token';
const SECRET = 'ams_integration-secret-value-0123456789';
const SCOPE = 'https://api.test/.default';

const withSecret = (clientId: string, enabled = true) =>
  makeIdentity('t1', clientId, {
    enabled,
    credentials: [{ keyId: 's1', kind: CredentialKind.CREDENTIAL_KIND_SECRET, publicJwkJson: '', secretHash: hashSecret(SECRET), notBefore: 0, notAfter: 0, x5tS256: '' }],
  });

const ask = (regional: RegionalProcess, clientId: string) => regional.acquire({ tenantId: 't1', clientId, scope: SCOPE, clientSecret: SECRET });

describe('regional process against a directory server', function () {
  this.timeout(30_000);
  let dataDir: string;
  let fake: FakeDirectory;
  let global: FakeDirectoryServer | undefined;
  let regional: RegionalProcess | undefined;

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'regional-it-'));
    fake = new FakeDirectory();
    fake.putTenant(makeTenant('t1'));
    fake.putIdentity(withSecret('cached'));
  });
  afterEach(async () => {
    await regional?.stop();
    await global?.stop();
    regional = undefined;
    global = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = async (globalAddress: string, extra: string[] = []): Promise<RegionalProcess> =>
    startRegional('regional-eastus', ['--region', 'eastus', '--global', globalAddress, '--mesh-token', MESH, '--data-dir', dataDir, '--usage-interval', '200ms', ...extra]);

  it('issues from its cache, serves its own key in the JWK Set and registers it with global', async () => {
    global = await startFakeDirectoryServer(fake, { meshToken: MESH });
    regional = await start(global.address);
    await eventually(async () => (await regional!.health()) === 'SERVING');
    const answer = await ask(regional, 'cached');
    assert.ok(answer.ok, JSON.stringify(answer));
    assert.equal(answer.response.faultDomain, 'regional/eastus');
    assert.ok(answer.dataAgeMs >= 0);
    const jwks = createLocalJWKSet(JSON.parse(await regional.jwks()));
    const { payload } = await jwtVerify(answer.response.accessToken, jwks);
    assert.equal(payload.fault_domain, 'regional/eastus');
    await eventually(() => fake.calls.registerSigningKey.length === 1);
    assert.equal(fake.calls.registerSigningKey[0]!.domain, 'regional/eastus');
    await eventually(() => fake.calls.reportUsage.some((r) => r.region === 'eastus' && r.entries.some((e) => e.clientId === 'cached')));
  });

  it('refuses an identity as soon as the change feed delivers its disable', async () => {
    global = await startFakeDirectoryServer(fake, { meshToken: MESH });
    regional = await start(global.address);
    await eventually(async () => (await regional!.health()) === 'SERVING');
    assert.ok((await ask(regional, 'cached')).ok);
    fake.putIdentity(withSecret('cached', false));
    const ms = await eventually(async () => {
      const a = await ask(regional!, 'cached');
      return !a.ok && a.code === status.PERMISSION_DENIED;
    });
    assert.ok(ms < 4000, `took ${ms} ms`);
  });

  it('fills a new identity once, and answers cache-miss-unfillable for one it cannot fill', async () => {
    global = await startFakeDirectoryServer(fake, { meshToken: MESH });
    regional = await start(global.address);
    await eventually(async () => (await regional!.health()) === 'SERVING');
    fake.putIdentity(withSecret('fresh'));
    fake.putIdentity(withSecret('never-asked'));
    const lookupsBefore = fake.calls.lookupIdentity;
    const answers = await Promise.all(Array.from({ length: 20 }, () => ask(regional!, 'fresh')));
    assert.ok(answers.every((a) => a.ok));
    assert.equal(fake.calls.lookupIdentity - lookupsBefore, 1);

    await global.stop();
    global = undefined;
    assert.ok((await ask(regional, 'cached')).ok, 'a cached identity keeps getting tokens with global gone');
    const miss = await ask(regional, 'never-asked');
    assert.equal(miss.ok, false);
    assert.ok(!miss.ok && miss.code === status.UNAVAILABLE && miss.reason === 'cache-miss-unfillable', JSON.stringify(miss));
  });

  it('keeps every real cached identity issuable with global stopped after a flood of random client ids', async () => {
    const real = Array.from({ length: 30 }, (_, i) => `real-${i}`);
    const credential = withSecret('cached').credentials;
    for (const id of real) fake.putIdentity(makeIdentity('t1', id, { credentials: credential }));
    global = await startFakeDirectoryServer(fake, { meshToken: MESH });
    // Room for the real identities and little more: before negative answers had their own cache,
    // the flood's "unknown client" answers pushed every real identity out.
    regional = await start(global.address, ['--cache-capacity', '40', '--negative-cache-capacity', '50']);
    await eventually(async () => (await regional!.health()) === 'SERVING');
    for (const id of real) assert.ok((await ask(regional, id)).ok, id);

    const flood = async (count: number, request: (i: number) => Parameters<RegionalProcess['acquire']>[0]): Promise<Map<string, number>> => {
      const outcomes = new Map<string, number>();
      let next = 0;
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (next < count) {
          const a = await regional!.acquire(request(next++));
          const key = a.ok ? 'token' : `${a.code}/${a.oauthError ?? ''}`;
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
        }
      }));
      return outcomes;
    };
    const lookupsBefore = fake.calls.lookupIdentity;
    const unknownClients = await flood(400, () => ({ tenantId: 't1', clientId: randomUUID(), scope: SCOPE, clientSecret: SECRET }));
    const lookupsAfterClients = fake.calls.lookupIdentity;
    const unknownTenants = await flood(200, () => ({ tenantId: randomUUID(), clientId: randomUUID(), scope: SCOPE, clientSecret: SECRET }));
    console.log(`      400 random clients: ${JSON.stringify(Object.fromEntries(unknownClients))}, ${lookupsAfterClients - lookupsBefore} global lookups; ` +
      `200 random tenants: ${JSON.stringify(Object.fromEntries(unknownTenants))}, ${fake.calls.lookupIdentity - lookupsAfterClients} global lookups`);
    assert.deepEqual([...unknownClients.keys()], [`${status.UNAUTHENTICATED}/invalid_client`]);
    assert.deepEqual([...unknownTenants.keys()], [`${status.INVALID_ARGUMENT}/invalid_request`]);
    assert.equal(fake.calls.lookupIdentity - lookupsAfterClients, 0, 'unknown tenants are answered in the region');

    await global.stop();
    global = undefined;
    const refused = [];
    for (const id of real) {
      const a = await ask(regional, id);
      if (!a.ok) refused.push(`${id}: ${a.code} ${a.reason ?? ''}`);
    }
    assert.deepEqual(refused, [], 'every real identity still gets a token from the region');
  });

  it('refuses a second use of a jti for an app that refuses reuse, allows reuse otherwise, and caps the assertion lifetime, over gRPC', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const parsed = await parseCredentialPem(publicKey.export({ format: 'pem', type: 'spki' }).toString());
    const certificate = [{ keyId: parsed.keyId, kind: CredentialKind.CREDENTIAL_KIND_CERTIFICATE, publicJwkJson: parsed.publicJwkJson, secretHash: '', notBefore: 0, notAfter: 0, x5tS256: '' }];
    // The flag travels from global to the region in the directory messages like any other field.
    fake.putIdentity(makeIdentity('t1', 'strict', { credentials: certificate, refuseAssertionReuse: true }));
    fake.putIdentity(makeIdentity('t1', 'lenient', { credentials: certificate }));
    global = await startFakeDirectoryServer(fake, { meshToken: MESH });
    regional = await start(global.address, ['--assertion-max-lifetime', '5m']);
    await eventually(async () => (await regional!.health()) === 'SERVING');
    const withAssertion = async (clientId: string, lifetimeSeconds = 120): Promise<string> =>
      (await buildAssertion({ tenantId: 't1', clientId, issuer: DEFAULT_ISSUER, privateKey, lifetimeSeconds })).assertion;
    const use = (clientId: string, clientAssertion: string) =>
      regional!.acquire({ tenantId: 't1', clientId, scope: SCOPE, clientAssertion, clientAssertionType: ASSERTION_TYPE });

    const strict = await withAssertion('strict');
    assert.ok((await use('strict', strict)).ok);
    const replay = await use('strict', strict);
    assert.ok(!replay.ok && replay.code === status.UNAUTHENTICATED && replay.oauthError === 'invalid_client', JSON.stringify(replay));
    assert.match(replay.details, /already used/);
    assert.ok((await use('strict', await withAssertion('strict'))).ok, 'a new assertion is accepted');

    const lenient = await withAssertion('lenient');
    assert.ok((await use('lenient', lenient)).ok);
    assert.ok((await use('lenient', lenient)).ok, 'reuse until exp when the app does not refuse it');

    const long = await use('lenient', await withAssertion('lenient', 301));
    assert.ok(!long.ok && long.code === status.UNAUTHENTICATED && long.oauthError === 'invalid_client', JSON.stringify(long));
    assert.match(long.details, /lifetime \(exp - iat\) is 301 s, more than the 300 s accepted/);
  });

  it('reports NOT_SERVING until the first snapshot loads when global is down at start', async () => {
    const port = await freePort();
    regional = await start(`127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await regional.health(), 'NOT_SERVING');
    global = await startFakeDirectoryServer(fake, { meshToken: MESH, port });
    const ms = await eventually(async () => (await regional!.health()) === 'SERVING', 15_000, 50);
    console.log(`      serving ${ms} ms after global came up`);
    assert.ok((await ask(regional, 'cached')).ok);
  });

  it('exits with status 2 and names the problem on invalid config', async () => {
    const proc = spawnService('regional-bad', 'services/regional/main.js', ['--listen', 'nowhere', '--cache-capacity', '-1']);
    const code = await proc.exited;
    assert.equal(code, 2);
    const text = proc.output.join('\n');
    assert.match(text, /--region/);
    assert.match(text, /--listen/);
    assert.match(text, /--cache-capacity/);
  });

  it('decodes to a token signed by the key kept in its data dir across restarts', async () => {
    global = await startFakeDirectoryServer(fake, { meshToken: MESH });
    regional = await start(global.address);
    await eventually(async () => (await regional!.health()) === 'SERVING');
    const first = await ask(regional, 'cached');
    await regional.stop();
    regional = await start(global.address);
    await eventually(async () => (await regional!.health()) === 'SERVING');
    const second = await ask(regional, 'cached');
    assert.ok(first.ok && second.ok);
    const kid = (t: string) => JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()).kid as string;
    assert.equal(kid(first.response.accessToken), kid(second.response.accessToken));
    assert.equal(decodeJwt(second.response.accessToken).tid, 't1');
  });
});
