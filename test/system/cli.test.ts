import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { TestMesh } from '../support/mesh-harness.js';
import { DIST } from '../support/spawn-service.js';

const BIN = path.resolve(DIST, '..', 'bin', 'authmesh.js');

/** The authmesh CLI as a user runs it, against a real global process. */
describe('authmesh CLI (system)', function () {
  this.timeout(60_000);
  let mesh: TestMesh;

  before(async () => {
    mesh = new TestMesh();
    await mesh.startGlobal();
  });
  after(async () => mesh?.stop());

  const run = (...args: string[]): { code: number | null; out: string; err: string } => {
    const r = spawnSync(process.execPath, [BIN, ...args, '--admin', mesh.address('global')], {
      encoding: 'utf8',
      env: { ...process.env, AUTHMESH_MESH_DIR: mesh.dir, AUTHMESH_ADMIN_TOKEN: mesh.adminToken },
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const json = (...args: string[]): Record<string, unknown> => {
    const r = run(...args, '--json');
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.equal(lines.length, 1, 'one JSON object on stdout');
    return JSON.parse(lines[0]!) as Record<string, unknown>;
  };

  it('registers a workload and gets a token that verifies against `authmesh jwks` with jose', () => {
    const { tenantId } = json('tenant', 'create', '--name', 'cli-tenant') as { tenantId: string };
    json('resource', 'create', '--tenant', tenantId, '--identifier', 'https://orders.example', '--roles', 'Orders.Read,Orders.Write');
    const { clientId, objectId } = json('app', 'create', '--tenant', tenantId, '--name', 'billing') as { clientId: string; objectId: string };
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyFile = path.join(mesh.dir, 'billing.pem');
    const pubFile = path.join(mesh.dir, 'billing.pub.pem');
    fs.writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    fs.writeFileSync(pubFile, publicKey.export({ format: 'pem', type: 'spki' }));
    const { keyId } = json('cred', 'add-cert', '--tenant', tenantId, '--client', clientId, '--public-key', pubFile) as { keyId: string };
    assert.match(keyId, /^[A-Za-z0-9_-]{43}$/, 'an RFC 7638 SHA-256 thumbprint');
    json('role', 'grant', '--tenant', tenantId, '--client', clientId, '--resource', 'https://orders.example', '--role', 'Orders.Read');

    const token = json('token', '--tenant', tenantId, '--client', clientId, '--key', keyFile, '--scope', 'https://orders.example/.default', '--endpoint', mesh.address('global')) as { accessToken: string; faultDomain: string };
    assert.equal(token.faultDomain, 'global');
    const jwks = json('jwks', '--tenant', tenantId, '--endpoint', mesh.address('global'));
    return jwtVerify(token.accessToken, createLocalJWKSet(jwks as never), { audience: 'https://orders.example', typ: 'at+jwt' }).then(({ payload }) => {
      assert.equal(payload.sub, objectId);
      assert.deepEqual(payload.roles, ['Orders.Read']);
    });
  });

  it('shows a secret once, and refuses it after `cred remove`', () => {
    const { tenantId } = json('tenant', 'create', '--name', 'cli-secrets') as { tenantId: string };
    json('resource', 'create', '--tenant', tenantId, '--identifier', 'https://orders.example', '--roles', 'Orders.Read');
    const { clientId } = json('app', 'create', '--tenant', tenantId, '--name', 'job') as { clientId: string };
    json('role', 'grant', '--tenant', tenantId, '--client', clientId, '--resource', 'https://orders.example', '--role', 'Orders.Read');
    const { keyId, secret } = json('cred', 'add-secret', '--tenant', tenantId, '--client', clientId) as { keyId: string; secret: string };
    const shown = json('app', 'show', '--tenant', tenantId, '--client', clientId);
    assert.ok(!JSON.stringify(shown).includes(secret), 'app show never prints the secret');
    const secretFile = path.join(mesh.dir, 'job.secret');
    fs.writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
    const args = ['token', '--tenant', tenantId, '--client', clientId, '--secret-file', secretFile, '--scope', 'https://orders.example/.default', '--endpoint', mesh.address('global')];
    assert.equal(json(...args).faultDomain, 'global');
    json('cred', 'remove', '--tenant', tenantId, '--client', clientId, '--key-id', keyId);
    const refused = run(...args, '--json');
    assert.equal(refused.code, 1);
    assert.equal(refused.out, '');
    assert.match(refused.err, /UNAUTHENTICATED invalid_client/);
    assert.ok(!refused.err.includes(secret), 'the error does not echo the secret');
  });

  it('exits 2 with usage on a missing flag, and 1 with the status on a refused admin call', () => {
    const usage = run('app', 'create', '--name', 'x');
    assert.equal(usage.code, 2);
    assert.match(usage.err, /--tenant is required/);
    const refused = spawnSync(process.execPath, [BIN, 'tenant', 'create', '--name', 'x', '--admin', mesh.address('global'), '--admin-token', 'wrong-token'], {
      encoding: 'utf8',
      env: { ...process.env, AUTHMESH_MESH_DIR: mesh.dir },
    });
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /UNAUTHENTICATED/);
    assert.match(refused.stderr, /warning: --admin-token puts the admin token on the command line/);
  });

  it('reads the admin token from --admin-token-file without a warning, and names the file it cannot read', () => {
    const file = path.join(mesh.dir, 'admin-token-copy');
    fs.writeFileSync(file, `${mesh.adminToken}\n`, { mode: 0o600 });
    const env = { ...process.env, AUTHMESH_MESH_DIR: path.join(mesh.dir, 'nowhere') };
    const ok = spawnSync(process.execPath, [BIN, 'tenant', 'create', '--name', 'from-file', '--admin', mesh.address('global'), '--admin-token-file', file, '--json'], { encoding: 'utf8', env });
    assert.equal(ok.status, 0, ok.stderr);
    assert.doesNotMatch(ok.stderr, /warning/);
    const missing = spawnSync(process.execPath, [BIN, 'tenant', 'create', '--name', 'x', '--admin', mesh.address('global'), '--admin-token-file', `${file}.absent`], { encoding: 'utf8', env });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /cannot read the admin token from .*admin-token-copy\.absent: ENOENT/);
  });

  it('writes a host token to a new 0600 file, never to stdout, and the token adds only that app\'s certificates', () => {
    const { tenantId } = json('tenant', 'create', '--name', 'cli-hosts') as { tenantId: string };
    const { clientId } = json('app', 'create', '--tenant', tenantId, '--name', 'vm-1') as { clientId: string };
    const { clientId: other } = json('app', 'create', '--tenant', tenantId, '--name', 'vm-2') as { clientId: string };
    const file = path.join(mesh.dir, 'vm-1.host-token');
    const made = run('host-token', 'create', '--tenant', tenantId, '--client', clientId, '--out', file, '--json');
    assert.equal(made.code, 0, made.err);
    const token = fs.readFileSync(file, 'utf8').trim();
    assert.match(token, /^amh_/);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.ok(!made.out.includes(token) && !made.err.includes(token), 'the token is not printed');
    const again = run('host-token', 'create', '--tenant', tenantId, '--client', clientId, '--out', file);
    assert.equal(again.code, 2, 'an existing file is not overwritten');
    const pubFile = path.join(mesh.dir, 'vm.pub.pem');
    fs.writeFileSync(pubFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }));
    const asHost = (client: string) =>
      spawnSync(process.execPath, [BIN, 'cred', 'add-cert', '--tenant', tenantId, '--client', client, '--public-key', pubFile, '--admin', mesh.address('global'), '--admin-token-file', file, '--json'], {
        encoding: 'utf8',
        env: { ...process.env, AUTHMESH_MESH_DIR: path.join(mesh.dir, 'nowhere') },
      });
    assert.equal(asHost(clientId).status, 0);
    const refused = asHost(other);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /PERMISSION_DENIED unauthorized_client/);
  });
});
