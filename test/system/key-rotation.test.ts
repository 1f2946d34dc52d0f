import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { TokenServiceClient } from '../../gen/authmesh/token/v1/token.js';
import { startGlobalProcess, type GlobalProcess } from '../integration/regional/global-process.js';
import { eventually, startRegional, type RegionalProcess } from '../integration/regional/regional-harness.js';

describe('regional signing key rotation with real processes', function () {
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
      '--region', 'eastus', '--global', global.address, '--mesh-token-file', global.meshTokenFile, '--data-dir', dataDir,
      '--signing-key-rotate-after', '3s',
    ]);
    const r = regional;
    await eventually(async () => (await r.health()) === 'SERVING', 15_000, 50);
    const token = async (): Promise<string> => {
      const a = await r.acquire({ tenantId: global.tenantId, clientId: app.clientId, scope: `${global.resource}/.default`, clientSecret: app.secret });
      assert.ok(a.ok, JSON.stringify(a));
      return a.response.accessToken;
    };
    const before = await token();
    const oldKid = decodeProtectedHeader(before).kid;
    let after = before;
    const tookMs = await eventually(async () => {
      after = await token();
      return decodeProtectedHeader(after).kid !== oldKid;
    }, 20_000, 100);
    const newKid = decodeProtectedHeader(after).kid;
    console.log(`      key ${oldKid} → ${newKid} after ${tookMs} ms of polling`);
    assert.ok(r.proc.output.some((l) => l.includes('signing-key-rotated') && l.includes(String(newKid))), 'the rotation is logged with the new kid');

    // What a resource server sees: global's JWK Set for the tenant holds both keys.
    const client = new TokenServiceClient(global.address, credentials.createInsecure());
    try {
      const jwksJson = await new Promise<string>((resolve, reject) =>
        client.getJwks({ tenantId: global.tenantId }, (err, res) => (err !== null ? reject(err) : resolve(res.jwksJson))),
      );
      const jwks = JSON.parse(jwksJson) as JSONWebKeySet;
      const kids = jwks.keys.map((k) => k.kid);
      assert.ok(kids.includes(oldKid) && kids.includes(newKid), `JWK Set lists ${kids.join(', ')}`);
      const keySet = createLocalJWKSet(jwks);
      for (const t of [before, after]) {
        const { payload } = await jwtVerify(t, keySet, { audience: global.resource });
        assert.equal(payload.client_id, app.clientId);
      }
    } finally {
      client.close();
    }
  });
});
