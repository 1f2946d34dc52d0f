import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { backupMemberToken, meshBackupFiles, startBackupProcess } from '../support/backup-process.js';
import { initBackup } from '../../cli/backup-commands.js';
import { TestMesh } from '../support/mesh-harness.js';
import { DIST } from '../support/spawn-service.js';

const BIN = path.resolve(DIST, '..', 'bin', 'authmesh.js');

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/**
 * The CLI against a real mesh of processes (global, backup, regional, gateway): `status` exit
 * codes, `apply`, `list` and `delete`, with the deletion seen through the regional cache.
 */
describe('authmesh CLI against a running mesh (system)', function () {
  this.timeout(120_000);
  let mesh: TestMesh;
  let statusArgs: string[];
  let privateKeyFile: string;
  let identitiesFile: string;

  const run = (...args: string[]): Run => {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      encoding: 'utf8',
      env: { ...process.env, AUTHMESH_MESH_DIR: mesh.dir, AUTHMESH_ADMIN_TOKEN: mesh.adminToken, AUTHMESH_ADMIN_ENDPOINT: mesh.address('global') },
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const json = (...args: string[]): Record<string, unknown> => {
    const r = run(...args, '--json');
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out) as Record<string, unknown>;
  };
  /** Runs `fn` until it returns true, for at most `ms`. */
  const waitFor = async (what: string, fn: () => boolean, ms = 30_000): Promise<void> => {
    const until = Date.now() + ms;
    while (!fn()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  before(async () => {
    mesh = new TestMesh();
    await mesh.startGlobal(['--backup-interval', '0']);
    const files = meshBackupFiles(mesh);
    await initBackup({ dataDir: files.dataDir, global: mesh.address('global'), meshToken: backupMemberToken(mesh) });
    await mesh.adminCall((c) => (m, o, cb) => c.exportBackup({}, m, o, cb));
    await startBackupProcess(mesh, files);
    await mesh.startRegional('eastus');
    await mesh.startGateway('eastus', ['--backup', mesh.address('backup'), '--backup-token-file', files.meshTokenFile]);
    statusArgs = ['status', '--gateway', mesh.address('gateway-eastus'), '--backup', mesh.address('backup')];

    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    privateKeyFile = path.join(mesh.dir, 'billing.key.pem');
    fs.writeFileSync(privateKeyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    fs.writeFileSync(path.join(mesh.dir, 'billing.pub.pem'), publicKey.export({ format: 'pem', type: 'spki' }));
    identitiesFile = path.join(mesh.dir, 'identities.yaml');
    fs.writeFileSync(
      identitiesFile,
      `tenants:
  - name: cli-mesh
    resources:
      - identifier: https://orders.example
        roles: [Orders.Read, Orders.Write]
    apps:
      - name: billing
        certificates:
          - path: billing.pub.pem
        roles:
          - resource: https://orders.example
            role: Orders.Read
`,
    );
  });
  after(async () => mesh?.stop());

  it('status exits 0 and says healthy when every component answers and every breaker is closed', async () => {
    let last: Run | undefined;
    await waitFor('a healthy status', () => (last = run(...statusArgs)).code === 0);
    assert.match(last!.out, /mesh: healthy/);
    const r = run(...statusArgs, '--json');
    assert.equal(r.code, 0, r.err);
    const parsed = JSON.parse(r.out) as { healthy: boolean; problems: string[] };
    assert.equal(parsed.healthy, true);
    assert.deepEqual(parsed.problems, []);
  });

  it('status --watch --count 2 redraws twice and ends with the exit code of the last round', () => {
    const r = run(...statusArgs, '--watch', '--interval', '0.2', '--count', '2');
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.match(/mesh: healthy/g)?.length, 2);
  });

  it('status --watch stops on Ctrl-C (SIGINT)', async () => {
    const child = spawn(process.execPath, [BIN, ...statusArgs, '--watch', '--interval', '0.2'], { env: { ...process.env, AUTHMESH_MESH_DIR: mesh.dir } });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor('two rounds', () => (out.match(/mesh: /g)?.length ?? 0) >= 2);
    child.kill('SIGINT');
    assert.equal(await exited, 0);
  });

  it('apply creates the identities, prints each change, and a second apply changes nothing and says so', () => {
    const dry = run('apply', '-f', identitiesFile, '--dry-run');
    assert.equal(dry.code, 0, dry.err);
    assert.match(dry.out, /create tenant "cli-mesh"/);
    assert.match(dry.out, /nothing written/);
    const tenants = (json('tenant', 'list').tenants as { name: string }[]).map((t) => t.name);
    assert.ok(!tenants.includes('cli-mesh'), 'a dry run writes nothing');

    const first = run('apply', '-f', identitiesFile);
    assert.equal(first.code, 0, first.err);
    assert.deepEqual(
      first.out.trim().split('\n').map((l) => l.split(' ').slice(0, 2).join(' ')),
      ['create tenant', 'create resource', 'create app', 'add certificate', 'grant Orders.Read', '5 change(s)'],
    );
    assert.ok(!first.out.includes('BEGIN'), 'no key material is printed');
    const second = run('apply', '-f', identitiesFile);
    assert.equal(second.code, 0, second.err);
    assert.equal(second.out, 'no changes: the directory already matches the file\n');
  });

  it('lists apps, resources and credentials, and after `app delete` the gateway issues no token for the app', async () => {
    const tenantId = (json('tenant', 'list').tenants as { name: string; tenantId: string }[]).find((t) => t.name === 'cli-mesh')!.tenantId;
    const apps = json('app', 'list', '--tenant', tenantId).apps as { name: string; clientId: string }[];
    assert.deepEqual(apps.map((a) => a.name), ['billing']);
    const clientId = apps[0]!.clientId;
    assert.deepEqual(json('resource', 'list', '--tenant', tenantId).resources, [{ identifier: 'https://orders.example', roles: ['Orders.Read', 'Orders.Write'] }]);
    const creds = json('cred', 'list', '--tenant', tenantId, '--client', clientId).credentials as { kind: string }[];
    assert.deepEqual(creds.map((c) => c.kind), ['certificate']);

    const token = ['token', '--tenant', tenantId, '--client', clientId, '--key', privateKeyFile, '--scope', 'https://orders.example/.default', '--endpoint', mesh.address('gateway-eastus')];
    await waitFor('a token through the gateway', () => run(...token, '--json').code === 0);

    const refusedDelete = run('resource', 'delete', '--tenant', tenantId, '--identifier', 'https://orders.example');
    assert.equal(refusedDelete.code, 1);
    assert.match(refusedDelete.err, /FAILED_PRECONDITION/);

    assert.equal(json('app', 'delete', '--tenant', tenantId, '--client', clientId).deleted, true);
    let refused: Run | undefined;
    await waitFor('the deleted app to be refused', () => (refused = run(...token, '--json')).code !== 0);
    assert.match(refused!.err, /UNAUTHENTICATED invalid_client/);
    assert.deepEqual(json('app', 'list', '--tenant', tenantId).apps, []);
    assert.equal(json('resource', 'delete', '--tenant', tenantId, '--identifier', 'https://orders.example').deleted, true);
    assert.deepEqual(json('resource', 'list', '--tenant', tenantId).resources, []);
  });

  it('status exits 1 and names what is unreachable when the mesh is stopped', async () => {
    for (const name of ['gateway-eastus', 'regional-eastus', 'backup', 'global']) await mesh.kill(name);
    const r = run(...statusArgs);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /mesh: degraded/);
    assert.match(r.out, new RegExp(`gateway ${statusArgs[2]!.replace(/\./g, '\\.')} unreachable`));
    assert.match(r.out, /backup .* unreachable/);
  });
});
