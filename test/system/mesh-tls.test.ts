import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { credentials, makeGenericClientConstructor, Metadata, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { initBackup } from '../../cli/backup-commands.js';
import { AdminServiceClient } from '../../gen/authmesh/admin/v1/admin.js';
import { DirectoryServiceClient } from '../../gen/authmesh/directory/v1/directory.js';
import { TokenServiceClient, type AcquireTokenResponse } from '../../gen/authmesh/token/v1/token.js';
import { bearer, unary } from '../../lib/grpc/index.js';
import { createMeshCa, generateCa, issueMeshCert, issueServerCert, loadOrIssueMeshCert, type MeshCertFiles } from '../../lib/tls/index.js';
import { ASSERTION_TYPE, DEFAULT_ISSUER, buildAssertion } from '../../lib/token/index.js';
import { waitForUsageRecorded } from '../support/backup-process.js';
import { sleep, spawnService, type SpawnedService } from '../support/spawn-service.js';

const RESOURCE = 'https://storage.authmesh.local';
const HealthClient = makeGenericClientConstructor(healthService, 'Health');
type CheckFn = (req: { service: string }, opts: { deadline: number }, cb: (err: Error | null, res?: { status: string }) => void) => void;

/** A call's outcome, never thrown. */
async function outcome<T>(p: Promise<T>): Promise<{ res?: T; err?: ServiceError }> {
  try {
    return { res: await p };
  } catch (err) {
    return { err: err as ServiceError };
  }
}

/**
 * Mutual TLS inside the mesh on real processes: the mesh CA signs a certificate per member, the
 * directory API, the admin API and the backup's TokenService refuse callers without the right
 * mesh certificate (or the admin token, for the admin API), and tokens still flow end to end.
 */
describe('mutual TLS inside the mesh (system)', function () {
  this.timeout(120_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-mtls-'));
  const caDir = path.join(dir, 'ca');
  const procs = new Map<string, SpawnedService>();
  const addresses = new Map<string, string>();
  const files = new Map<string, MeshCertFiles>();
  let adminToken = '';
  let foreign: { ca: Buffer; cert: Buffer; key: Buffer };
  let tenantId = '';
  let clientId = '';
  let assertion = '';

  const tlsAs = (name: string): ChannelCredentials => {
    const f = files.get(name) ?? loadOrIssueMeshCert(caDir, createMeshCa(caDir), name);
    files.set(name, f);
    return credentials.createSsl(fs.readFileSync(f.ca), fs.readFileSync(f.key), fs.readFileSync(f.cert));
  };
  const meshArgs = (name: string): string[] => {
    tlsAs(name);
    const f = files.get(name)!;
    return ['--mesh-ca', f.ca, '--mesh-cert', f.cert, '--mesh-key', f.key];
  };

  async function start(name: string, entry: string, args: string[], healthAs?: string | ChannelCredentials): Promise<void> {
    const proc = spawnService(name, entry, args);
    procs.set(name, proc);
    const until = Date.now() + 20_000;
    for (;;) {
      const m = /"listening":"(127\.0\.0\.1:\d+)"/.exec(proc.output.find((l) => l.includes('"listening"')) ?? '');
      if (m !== null) {
        addresses.set(name, m[1]!);
        break;
      }
      if (proc.child.exitCode !== null || Date.now() > until) throw new Error(`${name} did not start:\n${proc.output.slice(-20).join('\n')}`);
      await sleep(50);
    }
    const client = new HealthClient(addresses.get(name)!, healthAs === undefined ? credentials.createInsecure() : typeof healthAs === 'string' ? tlsAs(healthAs) : healthAs);
    const check = (client as unknown as { check: CheckFn }).check.bind(client);
    try {
      while (Date.now() < until) {
        const s = await new Promise<string | undefined>((resolve) => check({ service: '' }, { deadline: Date.now() + 1000 }, (err, res) => resolve(err ? undefined : res?.status)));
        if (s === 'SERVING') return;
        await sleep(100);
      }
      throw new Error(`${name} not SERVING:\n${proc.output.slice(-10).join('\n')}`);
    } finally {
      client.close();
    }
  }

  const admin = (creds: ChannelCredentials) => new AdminServiceClient(addresses.get('global')!, creds);
  const directory = (creds: ChannelCredentials) => new DirectoryServiceClient(addresses.get('global')!, creds);
  const withClient = async <C extends { close(): void }, T>(client: C, fn: (c: C) => Promise<T>): Promise<{ res?: T; err?: ServiceError }> => {
    try {
      return await outcome(fn(client));
    } finally {
      client.close();
    }
  };
  const snapshotAs = (creds: ChannelCredentials, md = new Metadata()) =>
    withClient(directory(creds), (c) => unary((m, o, cb) => c.getSnapshot({ region: 'eastus', maxIdentities: 1 }, m, o, cb), { metadata: md, timeoutMs: 3000 }));
  const listTenantsAs = (creds: ChannelCredentials, md = new Metadata()) =>
    withClient(admin(creds), (c) => unary((m, o, cb) => c.listTenants({}, m, o, cb), { metadata: md, timeoutMs: 3000 }));
  const acquireAt = (address: string, creds: ChannelCredentials, md = new Metadata()) =>
    withClient(new TokenServiceClient(address, creds), (c) =>
      unary<AcquireTokenResponse>(
        (m, o, cb) => c.acquireToken({ tenantId, clientId, scope: `${RESOURCE}/.default`, clientAssertion: assertion, clientAssertionType: ASSERTION_TYPE, clientSecret: '' }, m, o, cb),
        { metadata: md, timeoutMs: 5000 },
      ),
    );

  before(async () => {
    const ca = createMeshCa(caDir);
    // Same member name, another CA: must never be accepted.
    const other = generateCa('not the mesh CA');
    const impostor = issueMeshCert(other, 'regional-eastus');
    foreign = { ca: Buffer.from(ca.certPem), cert: Buffer.from(impostor.certPem), key: Buffer.from(impostor.keyPem) };
    const globalDir = path.join(dir, 'global');
    await start('global', 'services/global/main.js', ['--listen', '127.0.0.1:0', '--data-dir', globalDir, '--backup-interval', '0', '--usage-flush', '100ms', ...meshArgs('global')], 'admin');
    adminToken = fs.readFileSync(path.join(globalDir, 'admin-token'), 'utf8').trim();

    // Seed one workload through the admin API with the admin certificate.
    const md = bearer(adminToken);
    const adminCall = async <T>(fn: (c: AdminServiceClient, m: Metadata, o: object, cb: (e: ServiceError | null, r: T) => void) => void): Promise<T> => {
      const out = await withClient(admin(tlsAs('admin')), (c) => unary<T>((m, o, cb) => fn(c, m, o, cb), { metadata: md }));
      if (out.err) throw out.err;
      return out.res!;
    };
    ({ tenantId } = await adminCall<{ tenantId: string }>((c, m, o, cb) => c.createTenant({ name: 'mtls' }, m, o, cb)));
    await adminCall((c, m, o, cb) => c.createResource({ tenantId, identifier: RESOURCE, roles: ['Blob.Read'] }, m, o, cb));
    ({ clientId } = await adminCall<{ clientId: string }>((c, m, o, cb) => c.createApp({ tenantId, name: 'w' }, m, o, cb)));
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await adminCall((c, m, o, cb) => c.addCertificateCredential({ tenantId, clientId, pem: publicKey.export({ format: 'pem', type: 'spki' }).toString(), notBefore: 0, notAfter: 0 }, m, o, cb));
    await adminCall((c, m, o, cb) => c.grantRole({ tenantId, clientId, resource: RESOURCE, role: 'Blob.Read' }, m, o, cb));
    ({ assertion } = await buildAssertion({ tenantId, clientId, issuer: DEFAULT_ISSUER, privateKey, lifetimeSeconds: 3600 }));

    // The backup: key registered over mutual TLS as `backup`, a snapshot exported with the admin certificate.
    const meshToken = path.join(globalDir, 'mesh-token');
    await initBackup({ dataDir: path.join(dir, 'backup'), global: addresses.get('global')!, meshToken: 'unused-with-mutual-tls', channelCredentials: tlsAs('backup') });
    // The workload authenticates once through global, so the export covers it and the backup issues to it.
    const viaGlobal = await acquireAt(addresses.get('global')!, tlsAs('gateway-eastus'));
    assert.equal(viaGlobal.res?.faultDomain, 'global', viaGlobal.err?.details);
    await waitForUsageRecorded(addresses.get('global')!, [{ tenantId, clientId }], { channelCredentials: tlsAs('regional-eastus') });
    await adminCall((c, m, o, cb) => c.exportBackup({}, m, o, cb));
    await start('backup', 'services/backup/main.js', [
      '--listen', '127.0.0.1:0', '--data-dir', path.join(dir, 'backup'), '--store-dir', path.join(globalDir, 'backups'),
      '--export-public-key', path.join(globalDir, 'export-key.pub.pem'), '--mesh-token-file', meshToken, '--coverage-window', '3d', ...meshArgs('backup'),
    ], 'admin');
    await start('regional-eastus', 'services/regional/main.js', [
      '--region', 'eastus', '--listen', '127.0.0.1:0', '--global', addresses.get('global')!, '--mesh-token-file', meshToken,
      '--data-dir', path.join(dir, 'regional-eastus'), ...meshArgs('regional-eastus'),
    ], 'admin');
    await start('gateway-eastus', 'gateway/main.js', [
      '--region', 'eastus', '--listen', '127.0.0.1:0', '--regional', addresses.get('regional-eastus')!, '--global', addresses.get('global')!,
      '--backup', addresses.get('backup')!, ...meshArgs('gateway-eastus'),
    ]);
  });

  after(async () => {
    await Promise.all([...procs.values()].map((p) => p.stop(3000)));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  describe('directory API', () => {
    it('answers a regional certificate', async () => {
      const out = await snapshotAs(tlsAs('regional-eastus'));
      assert.ok(out.res, out.err?.details);
    });

    it('refuses plaintext, even with the mesh token, and TLS without a client certificate', async () => {
      const meshToken = fs.readFileSync(path.join(dir, 'global', 'mesh-token'), 'utf8').trim();
      const plain = await snapshotAs(credentials.createInsecure(), bearer(meshToken));
      assert.equal(plain.err?.code, status.UNAVAILABLE);
      const noCert = await snapshotAs(credentials.createSsl(fs.readFileSync(files.get('global')!.ca)), bearer(meshToken));
      assert.equal(noCert.err?.code, status.UNAVAILABLE);
    });

    it('refuses a certificate for the same member name from another CA', async () => {
      const out = await snapshotAs(credentials.createSsl(foreign.ca, foreign.key, foreign.cert));
      assert.equal(out.err?.code, status.UNAVAILABLE);
    });

    it('refuses a mesh certificate of a member that has no business there (a gateway), even with the admin token', async () => {
      const out = await snapshotAs(tlsAs('gateway-eastus'), bearer(adminToken));
      assert.equal(out.err?.code, status.PERMISSION_DENIED, out.err?.details);
    });
  });

  describe('admin API', () => {
    it('answers the admin certificate without a token, and another member only with the admin token', async () => {
      assert.ok((await listTenantsAs(tlsAs('admin'))).res);
      const without = await listTenantsAs(tlsAs('regional-eastus'));
      assert.equal(without.err?.code, status.UNAUTHENTICATED);
      const withToken = await listTenantsAs(tlsAs('regional-eastus'), bearer(adminToken));
      assert.ok(withToken.res, withToken.err?.details);
    });

    it('refuses plaintext and foreign certificates even with the admin token, and the export path with them', async () => {
      for (const creds of [credentials.createInsecure(), credentials.createSsl(foreign.ca, foreign.key, foreign.cert)]) {
        assert.equal((await listTenantsAs(creds, bearer(adminToken))).err?.code, status.UNAVAILABLE);
        const exported = await withClient(admin(creds), (c) => unary((m, o, cb) => c.exportBackup({}, m, o, cb), { metadata: bearer(adminToken), timeoutMs: 3000 }));
        assert.equal(exported.err?.code, status.UNAVAILABLE);
      }
      const exported = await withClient(admin(tlsAs('gateway-eastus')), (c) => unary((m, o, cb) => c.exportBackup({}, m, o, cb), { timeoutMs: 3000 }));
      assert.equal(exported.err?.code, status.UNAUTHENTICATED);
    });

    it('lets a host with its own mesh certificate and a host token rotate only its application\'s certificates', async () => {
      const made = await withClient(admin(tlsAs('admin')), (c) => unary<{ token: string }>((m, o, cb) => c.createHostToken({ tenantId, clientId, lifetimeSeconds: 600 }, m, o, cb), { timeoutMs: 3000 }));
      assert.ok(made.res, made.err?.details);
      const host = bearer(made.res.token);
      const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
      const added = await withClient(admin(tlsAs('host-vm-1')), (c) =>
        unary<{ keyId: string }>((m, o, cb) => c.addCertificateCredential({ tenantId, clientId, pem, notBefore: 0, notAfter: 0 }, m, o, cb), { metadata: host, timeoutMs: 3000 }),
      );
      assert.ok(added.res, added.err?.details);
      const removed = await withClient(admin(tlsAs('host-vm-1')), (c) =>
        unary((m, o, cb) => c.removeCredential({ tenantId, clientId, keyId: added.res!.keyId }, m, o, cb), { metadata: host, timeoutMs: 3000 }),
      );
      assert.ok(removed.res, removed.err?.details);
      const listed = await listTenantsAs(tlsAs('host-vm-1'), host);
      assert.equal(listed.err?.code, status.PERMISSION_DENIED);
      assert.equal(listed.err?.metadata.get('oauth-error')[0], 'unauthorized_client');
    });
  });

  describe("backup's TokenService", () => {
    it('issues to a gateway certificate and refuses other members, plaintext and foreign certificates', async () => {
      const backup = addresses.get('backup')!;
      const gw = await acquireAt(backup, tlsAs('gateway-eastus'));
      assert.equal(gw.res?.faultDomain, 'backup', gw.err?.details);
      assert.equal((await acquireAt(backup, tlsAs('regional-eastus'))).err?.code, status.UNAUTHENTICATED);
      const meshToken = fs.readFileSync(path.join(dir, 'global', 'mesh-token'), 'utf8').trim();
      assert.equal((await acquireAt(backup, credentials.createInsecure(), bearer(meshToken))).err?.code, status.UNAVAILABLE);
      assert.equal((await acquireAt(backup, credentials.createSsl(foreign.ca, foreign.key, foreign.cert))).err?.code, status.UNAVAILABLE);
    });
  });

  describe('end to end', () => {
    it('issues a token through the gateway from regional, and from global once regional is killed', async () => {
      const gateway = addresses.get('gateway-eastus')!;
      const first = await acquireAt(gateway, credentials.createInsecure());
      assert.equal(first.res?.faultDomain, 'regional/eastus', first.err?.details);
      const regional = procs.get('regional-eastus')!;
      regional.kill('SIGKILL');
      await regional.exited;
      const second = await acquireAt(gateway, credentials.createInsecure());
      assert.equal(second.res?.faultDomain, 'global', second.err?.details);
    });

    it('issues from backup over mutual TLS once regional is killed and global is stopped, with no failed call', async () => {
      const gateway = addresses.get('gateway-eastus')!;
      const global = procs.get('global')!;
      global.child.kill('SIGSTOP');
      try {
        const answers = [];
        for (let i = 0; i < 20; i += 1) answers.push(await acquireAt(gateway, credentials.createInsecure()));
        const failed = answers.filter((a) => a.err !== undefined);
        const byDomain = answers.map((a) => a.res?.faultDomain ?? `${a.err?.code}`);
        console.log(`      20 calls with regional killed and global stopped: ${JSON.stringify(byDomain.reduce<Record<string, number>>((m, d) => ({ ...m, [d]: (m[d] ?? 0) + 1 }), {}))}`);
        assert.deepEqual(failed.map((a) => a.err?.details), []);
        assert.ok(byDomain.every((d) => d === 'backup'), byDomain.join(','));
      } finally {
        global.child.kill('SIGCONT');
      }
    });
  });

  describe('production mode', () => {
    const cases: [string, string, string[]][] = [
      ['global', 'services/global/main.js', ['--data-dir', path.join(dir, 'prod-global')]],
      ['regional', 'services/regional/main.js', ['--region', 'eastus', '--data-dir', path.join(dir, 'prod-regional')]],
      ['backup', 'services/backup/main.js', ['--store-dir', dir, '--export-public-key', path.join(dir, 'x.pem'), '--mesh-token-file', path.join(dir, 'x')]],
      ['gateway', 'gateway/main.js', ['--region', 'eastus', '--regional', '127.0.0.1:1']],
    ];
    for (const [name, entry, args] of cases) {
      it(`${name} exits 2 with a clear message when started without mesh certificates`, async () => {
        const proc = spawnService(`prod-${name}`, entry, ['--listen', '127.0.0.1:0', '--mode', 'production', ...args]);
        const code = await proc.exited;
        assert.equal(code, 2, proc.output.join('\n'));
        assert.match(proc.output.join('\n'), /production mode requires mutual TLS.*--mesh-ca, --mesh-cert and --mesh-key/);
      });
    }

    it('a service exits 2 when only part of the mesh certificate is configured', async () => {
      const f = files.get('global')!;
      const proc = spawnService('partial', 'services/global/main.js', ['--listen', '127.0.0.1:0', '--data-dir', path.join(dir, 'partial'), '--mesh-cert', f.cert]);
      assert.equal(await proc.exited, 2);
      assert.match(proc.output.join('\n'), /go together/);
    });
  });

  describe('public gateway port over TLS', () => {
    it('serves TokenService over TLS with --grpc-tls and refuses plaintext callers', async () => {
      const publicCa = generateCa('public CA');
      const serverCert = issueServerCert(publicCa, {});
      const publicCreds = credentials.createSsl(Buffer.from(publicCa.certPem));
      const certFile = path.join(dir, 'public.pem');
      const keyFile = path.join(dir, 'public-key.pem');
      fs.writeFileSync(certFile, serverCert.certPem);
      fs.writeFileSync(keyFile, serverCert.keyPem, { mode: 0o600 });
      await start('gateway-tls', 'gateway/main.js', [
        '--region', 'eastus', '--listen', '127.0.0.1:0', '--regional', '127.0.0.1:1', '--global', addresses.get('global')!,
        '--grpc-tls', '--tls-cert', certFile, '--tls-key', keyFile, ...meshArgs('gateway-eastus'),
      ], publicCreds);
      const address = addresses.get('gateway-tls')!;
      const plain = await acquireAt(address, credentials.createInsecure());
      assert.equal(plain.err?.code, status.UNAVAILABLE);
      // The home regional does not exist here, so the answer comes from global over mutual TLS.
      const tls = await acquireAt(address, publicCreds);
      assert.equal(tls.res?.faultDomain, 'global', tls.err?.details);
    });
  });
});
