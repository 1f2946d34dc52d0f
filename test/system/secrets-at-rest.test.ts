import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { initBackup } from '../../cli/backup-commands.js';
import type { AcquireTokenResponse } from '../../gen/authmesh/token/v1/token.js';
import { ASSERTION_TYPE, DEFAULT_ISSUER, buildAssertion } from '../../lib/token/index.js';
import { backupMemberToken, meshBackupFiles, startBackupProcess } from '../support/backup-process.js';
import { RESOURCE, TestMesh, acquire, type TestWorkload } from '../support/mesh-harness.js';
import { sleep } from '../support/spawn-service.js';

/** Every file under `dir`, recursively. */
function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : e.isFile() ? [p] : [];
  });
}

/** A file that holds a private key or a bearer secret, by name or by content. */
const isSecretFile = (file: string): boolean => {
  const name = path.basename(file);
  if (name.endsWith('.pub.pem')) return false;
  if (/-token$/.test(name) || /key.*\.pem$/.test(name) || name === 'member-token-key' || path.basename(path.dirname(file)) === 'members') return true;
  return name.endsWith('.pem') && fs.readFileSync(file, 'utf8').includes('PRIVATE KEY');
};

/** The strings that would show a private key: PEM body lines and the private JWK members. */
function privateMaterialOf(pem: string): string[] {
  const body = pem.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----'));
  const jwk = createPrivateKey(pem).export({ format: 'jwk' }) as Record<string, string | undefined>;
  const members = ['d', 'p', 'q', 'dp', 'dq', 'qi'].map((k) => jwk[k]).filter((v): v is string => v !== undefined);
  return [...body, ...members.map((m) => m.slice(0, 32))];
}

describe('secrets at rest and in output (system)', function () {
  this.timeout(120_000);
  let mesh: TestMesh;
  let workload: TestWorkload;
  /** Every credential value the run used, good or bad. */
  const secrets = new Map<string, string>();
  const errorMessages: string[] = [];

  before(async () => {
    mesh = new TestMesh();
    await mesh.startGlobal(['--backup-interval', '0', '--usage-flush', '100ms', '--log-level', 'debug']);
    const files = meshBackupFiles(mesh);
    const meshToken = fs.readFileSync(files.meshTokenFile, 'utf8').trim();
    secrets.set('admin token', mesh.adminToken);
    secrets.set('mesh token', meshToken);
    secrets.set('backup member token', backupMemberToken(mesh));
    await initBackup({ dataDir: files.dataDir, global: mesh.address('global'), meshToken: backupMemberToken(mesh) });
    workload = await mesh.addWorkload('scanned');
    secrets.set('client assertion', workload.assertion);
    const { secret } = await mesh.adminCall<{ secret: string }>((c) => (m, o, cb) => c.addSecretCredential({ tenantId: workload.tenantId, clientId: workload.clientId, lifetimeSeconds: 0 }, m, o, cb));
    secrets.set('client secret', secret);
    await mesh.startRegional('eastus', ['--log-level', 'debug']);
    await mesh.adminCall((c) => (m, o, cb) => c.exportBackup({}, m, o, cb));
    await startBackupProcess(mesh, files, ['--log-level', 'debug']);
    await mesh.startGateway('eastus', [
      '--backup', mesh.address('backup'), '--backup-token-file', files.meshTokenFile, '--log-level', 'debug',
      '--data-dir', path.join(mesh.dir, 'gateway-eastus'), '--http-listen', '127.0.0.1:0',
    ]);

    const gateway = mesh.tokenClient('gateway-eastus');
    const global = mesh.tokenClient('global');
    const call = (client: typeof gateway, req: Partial<{ clientAssertion: string; clientSecret: string; clientId: string }>): Promise<{ res?: AcquireTokenResponse; err?: ServiceError }> =>
      new Promise((resolve) => {
        const request = {
          tenantId: workload.tenantId, clientId: workload.clientId, scope: `${RESOURCE}/.default`, clientAssertion: '', clientAssertionType: '', clientSecret: '', ...req,
        };
        if (request.clientAssertion !== '') request.clientAssertionType = ASSERTION_TYPE;
        client.acquireToken(request, new Metadata(), { deadline: Date.now() + 5000 }, (err, res) => resolve(err ? { err } : { res }));
      });

    // Good credentials: each access token is a secret too.
    for (const client of [gateway, global]) {
      const a = await acquire(client, workload);
      assert.ok(a.response, a.error?.details);
      secrets.set(`access token ${a.response.faultDomain}`, a.response.accessToken);
      const s = await call(client, { clientSecret: secret });
      assert.ok(s.res, s.err?.details);
      secrets.set(`access token (secret) ${s.res.faultDomain}`, s.res.accessToken);
    }
    // Bad credentials, each carrying something that must not be echoed anywhere.
    const stranger = await buildAssertion({ tenantId: workload.tenantId, clientId: workload.clientId, issuer: DEFAULT_ISSUER, privateKey: createPrivateKey(fs.readFileSync(path.join(mesh.dir, 'global', 'signing-key.pem'))) });
    secrets.set('assertion signed with global key', stranger.assertion);
    const wrongSecret = `${secret.slice(0, -4)}AAAA`;
    secrets.set('wrong client secret', wrongSecret);
    const tampered = `${workload.assertion.slice(0, -6)}AAAAAA`;
    secrets.set('tampered assertion', tampered);
    for (const client of [gateway, global]) {
      for (const req of [
        { clientSecret: wrongSecret },
        { clientSecret: mesh.adminToken },
        { clientSecret: meshToken },
        { clientAssertion: tampered },
        { clientAssertion: stranger.assertion },
        { clientAssertion: workload.assertion, clientId: 'someone-else' },
        { clientSecret: secret, clientId: 'someone-else' },
      ]) {
        const out = await call(client, req);
        assert.ok(out.err, 'a bad credential got a token');
        errorMessages.push(out.err.details, out.err.message, JSON.stringify(out.err.metadata.getMap()));
      }
    }
    // A mutation and an export after all that, so the SQLite file and a snapshot hold the state.
    await mesh.adminCall((c) => (m, o, cb) => c.exportBackup({}, m, o, cb));
    await sleep(300);
  });

  after(async () => {
    await mesh?.stop();
  });

  it('keeps every private key and token file at mode 0600 in a 0700 folder of its own domain', () => {
    const files = walk(mesh.dir).filter(isSecretFile);
    const names = files.map((f) => path.relative(mesh.dir, f)).sort();
    for (const expected of ['global/admin-token', 'global/mesh-token', 'global/member-token-key', 'global/signing-key.pem', 'global/export-key.pem', 'backup/signing-key.pem']) {
      assert.ok(names.includes(expected), `${expected} missing from ${names.join(', ')}`);
    }
    assert.ok(names.some((n) => n.startsWith('regional-eastus/')), `no regional key in ${names.join(', ')}`);
    assert.ok(names.some((n) => n.startsWith('gateway-eastus/')), `no gateway TLS key in ${names.join(', ')}`);
    for (const file of files) {
      const mode = fs.statSync(file).mode & 0o777;
      assert.equal(mode, 0o600, `${path.relative(mesh.dir, file)} has mode ${mode.toString(8)}`);
      const dirMode = fs.statSync(path.dirname(file)).mode & 0o777;
      assert.equal(dirMode & 0o077, 0, `${path.relative(mesh.dir, path.dirname(file))} has mode ${dirMode.toString(8)}`);
    }
  });

  it('keeps each private key in exactly one file: nothing else in the mesh folders holds its material', () => {
    const all = walk(mesh.dir);
    const keyFiles = all.filter((f) => fs.readFileSync(f, 'latin1').includes('PRIVATE KEY'));
    assert.ok(keyFiles.length >= 5, keyFiles.join(', '));
    const contents = new Map(all.map((f) => [f, fs.readFileSync(f, 'latin1')]));
    for (const keyFile of keyFiles) {
      for (const needle of privateMaterialOf(fs.readFileSync(keyFile, 'utf8'))) {
        for (const [file, text] of contents) {
          if (file !== keyFile) assert.ok(!text.includes(needle), `material of ${path.relative(mesh.dir, keyFile)} found in ${path.relative(mesh.dir, file)}`);
        }
      }
    }
  });

  /** Every place a secret could leak to, by name. */
  const leakTargets = (): Map<string, string> => {
    const targets = new Map<string, string>();
    for (const [name, proc] of mesh.procs) targets.set(`output of ${name}`, proc.output.join('\n'));
    targets.set('error messages', errorMessages.join('\n'));
    const globalDir = path.join(mesh.dir, 'global');
    for (const f of fs.readdirSync(globalDir).filter((n) => n.startsWith('directory.db'))) {
      targets.set(`global/${f}`, fs.readFileSync(path.join(globalDir, f), 'latin1'));
    }
    for (const f of walk(path.join(globalDir, 'backups'))) targets.set(path.relative(mesh.dir, f), fs.readFileSync(f, 'latin1'));
    return targets;
  };

  it('writes no private key, private JWK, token, secret, assertion or access token to logs, errors, snapshots or the SQLite file', () => {
    const targets = leakTargets();
    assert.ok([...targets.keys()].some((k) => k.startsWith('global/backups/')), 'no snapshot was written');
    assert.ok(targets.get('global/directory.db')!.length > 0);
    const keyMaterial = walk(mesh.dir)
      .filter((f) => fs.readFileSync(f, 'latin1').includes('PRIVATE KEY'))
      .flatMap((f) => privateMaterialOf(fs.readFileSync(f, 'utf8')).map((m) => [`private key ${path.relative(mesh.dir, f)}`, m] as const));
    const needles: (readonly [string, string])[] = [
      ...keyMaterial,
      ...[...secrets].flatMap(([name, value]) => {
        // A JWT leaks by its signature as much as by the whole text.
        const parts = value.split('.');
        return parts.length === 3 ? [[name, value] as const, [`${name} signature`, parts[2]!] as const] : [[name, value] as const];
      }),
    ];
    for (const [where, text] of targets) {
      assert.doesNotMatch(text, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, `PEM private key in ${where}`);
      assert.doesNotMatch(text, /"d"\s*:\s*"[A-Za-z0-9_-]{20,}"/, `private JWK member "d" in ${where}`);
      for (const [name, value] of needles) assert.ok(!text.includes(value), `${name} found in ${where}`);
    }
  });

  it('stores the client secret only as a salted SHA-256 hash in the SQLite file', () => {
    const db = [...leakTargets()].filter(([k]) => k.startsWith('global/directory.db')).map(([, v]) => v).join('');
    assert.match(db, /sha256\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}/);
  });
});
