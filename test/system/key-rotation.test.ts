import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { TokenServiceClient } from '../../gen/authmesh/token/v1/token.js';
import { startGlobalProcess, type GlobalProcess } from '../integration/regional/global-process.js';
import { eventually, startRegional, type RegionalProcess } from '../integration/regional/regional-harness.js';

const jwksOf = async (address: string, tenantId: string): Promise<JSONWebKeySet> => {
  const client = new TokenServiceClient(address, credentials.createInsecure());
  try {
    const json = await new Promise<string>((resolve, reject) => client.getJwks({ tenantId }, (err, res) => (err !== null ? reject(err) : resolve(res.jwksJson))));
    return JSON.parse(json) as JSONWebKeySet;
  } finally {
    client.close();
  }
};

/** Takes tokens until one carries another `kid`: the first token, that one, and both kids. */
async function untilKidChanges(token: () => Promise<string>, label: string): Promise<{ before: string; after: string; oldKid: string; newKid: string }> {
  const before = await token();
  const oldKid = String(decodeProtectedHeader(before).kid);
  let after = before;
  const tookMs = await eventually(async () => {
    after = await token();
    return decodeProtectedHeader(after).kid !== oldKid;
  }, 20_000, 100);
  const newKid = String(decodeProtectedHeader(after).kid);
  console.log(`      ${label} key ${oldKid} → ${newKid} after ${tookMs} ms of polling`);
  return { before, after, oldKid, newKid };
}

describe('signing key rotation with real processes', function () {
  this.timeout(60_000);
  let global: GlobalProcess;
  let regional: RegionalProcess | undefined;
  let dataDir: string;

  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'regional-rotation-'));
    global = await startGlobalProcess();
  });
  afterEach(async () => {
    await regional?.stop();
    await global.stop();
    regional = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('signs with a new key once global publishes it, and tokens signed before keep verifying', async () => {
    const app = await global.seedApp('payments');
    regional = await startRegional('regional-eastus', [
      '--region', 'eastus', '--global', global.address, '--mesh-token-file', global.memberTokenFile('regional-eastus'), '--data-dir', dataDir,
      '--signing-key-rotate-after', '3s',
    ]);
    const r = regional;
    await eventually(async () => (await r.health()) === 'SERVING', 15_000, 50);
    const token = async (): Promise<string> => {
      const a = await r.acquire({ tenantId: global.tenantId, clientId: app.clientId, scope: `${global.resource}/.default`, clientSecret: app.secret });
      assert.ok(a.ok, JSON.stringify(a));
      return a.response.accessToken;
    };
    const { before, after, oldKid, newKid } = await untilKidChanges(token, 'regional');
    assert.ok(r.proc.output.some((l) => l.includes('signing-key-rotated') && l.includes(newKid)), 'the rotation is logged with the new kid');

    // What a resource server sees: global's JWK Set for the tenant holds both keys.
    const jwks = await jwksOf(global.address, global.tenantId);
    const kids = jwks.keys.map((k) => k.kid);
    assert.ok(kids.includes(oldKid) && kids.includes(newKid), `JWK Set lists ${kids.join(', ')}`);
    for (const t of [before, after]) {
      const { payload } = await jwtVerify(t, createLocalJWKSet(jwks), { audience: global.resource });
      assert.equal(payload.client_id, app.clientId);
    }
  });

  it('rotates global\'s own key the same way, and regional lists the new key before global signs with it', async () => {
    await global.stop();
    global = await startGlobalProcess(['--signing-key-rotate-after', '3s']);
    const app = await global.seedApp('payments');
    regional = await startRegional('regional-eastus', [
      '--region', 'eastus', '--global', global.address, '--mesh-token-file', global.memberTokenFile('regional-eastus'), '--data-dir', dataDir,
    ]);
    const r = regional;
    await eventually(async () => (await r.health()) === 'SERVING', 15_000, 50);
    const direct = new TokenServiceClient(global.address, credentials.createInsecure());
    try {
      const token = (): Promise<string> =>
        new Promise((resolve, reject) =>
          direct.acquireToken(
            { tenantId: global.tenantId, clientId: app.clientId, scope: `${global.resource}/.default`, clientSecret: app.secret, clientAssertion: '', clientAssertionType: '' },
            (err, res) => (err !== null ? reject(err) : resolve(res.accessToken)),
          ),
        );
      const { before, after, oldKid, newKid } = await untilKidChanges(token, 'global');
      // Regional's JWK Set (from global's change feed) already has the key global now signs with.
      const regionalKids = (JSON.parse(await r.jwks()) as JSONWebKeySet).keys.map((k) => k.kid);
      assert.ok(regionalKids.includes(newKid) && regionalKids.includes(oldKid), `regional lists ${regionalKids.join(', ')}`);
      const jwks = await jwksOf(global.address, global.tenantId);
      for (const t of [before, after]) await jwtVerify(t, createLocalJWKSet(jwks), { audience: global.resource });
    } finally {
      direct.close();
    }
  });
});
