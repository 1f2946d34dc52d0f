import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { CertificateCredential, GrpcAgentTransport, GrpcTokenTransport, MeshUnavailableError } from '../../client/index.js';
import { generateCa, issueServerCert, loadOrIssueMeshCert, createMeshCa } from '../../lib/tls/index.js';
import { gatewayJwksSource } from '../../verifier/index.js';
import { RESOURCE, TestMesh, type TestWorkload } from '../support/mesh-harness.js';
import { loadMeshTls, meshServerCredentials, serve } from '../../lib/grpc/index.js';
import { DIST, spawnService } from '../support/spawn-service.js';

const SCOPE = `${RESOURCE}/.default`;
const BIN = path.join(DIST, 'cli', 'main.js');

/**
 * The public gRPC port over TLS on real processes: a gateway serving a certificate from the
 * development CA, and every client (SDK, verifier key set source, CLI, identity agent) getting
 * tokens and key sets through it; a client trusting another CA is refused; production mode
 * without TLS on the public port does not start.
 */
describe('TLS on the public gateway port (system)', function () {
  this.timeout(120_000);
  let mesh: TestMesh;
  let workload: TestWorkload;
  let keyFile: string;
  let caFile: string;
  let wrongCaFile: string;
  let gateway: string;

  before(async () => {
    mesh = new TestMesh();
    const ca = generateCa('authmesh gateway test CA');
    const leaf = issueServerCert(ca);
    const wrong = generateCa('a CA the gateway does not use');
    caFile = path.join(mesh.dir, 'gateway-ca.pem');
    wrongCaFile = path.join(mesh.dir, 'wrong-ca.pem');
    const certFile = path.join(mesh.dir, 'gateway.pem');
    const gatewayKey = path.join(mesh.dir, 'gateway-key.pem');
    fs.writeFileSync(caFile, ca.certPem);
    fs.writeFileSync(wrongCaFile, wrong.certPem);
    fs.writeFileSync(certFile, leaf.certPem);
    fs.writeFileSync(gatewayKey, leaf.keyPem, { mode: 0o600 });
    await mesh.startGlobal();
    workload = await mesh.addWorkload('tls-client');
    keyFile = path.join(mesh.dir, 'tls-client.pem');
    fs.writeFileSync(keyFile, workload.privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    await mesh.startRegional('eastus');
    // The harness waits for SERVING in plaintext; this gateway speaks TLS only, so wait on its log line.
    const proc = spawnService('gateway-eastus', 'gateway/main.js', [
      '--region', 'eastus', '--listen', '127.0.0.1:0', '--regional', mesh.address('regional-eastus'), '--global', mesh.address('global'),
      '--grpc-tls', '--tls-cert', certFile, '--tls-key', gatewayKey,
    ]);
    mesh.procs.set('gateway-eastus', proc);
    const until = Date.now() + 20_000;
    while (gateway === undefined) {
      const m = /"listening":"(127\.0\.0\.1:\d+)"/.exec(proc.output.find((l) => l.includes('"listening"')) ?? '');
      if (m !== null) gateway = m[1]!;
      else if (proc.child.exitCode !== null || Date.now() > until) throw new Error(`gateway did not start:\n${proc.output.slice(-20).join('\n')}`);
      else await new Promise((r) => setTimeout(r, 50));
    }
  });

  after(async () => {
    await mesh?.stop();
  });

  it('gives the SDK a token over TLS when it trusts the gateway CA', async () => {
    const credential = new CertificateCredential(workload.tenantId, workload.clientId, workload.privateKey, {
      endpoints: [gateway],
      tls: { caFile },
    });
    try {
      const token = await credential.getToken(SCOPE, { deadline: Date.now() + 10_000 });
      assert.equal(token.faultDomain, 'regional/eastus');
      assert.ok(token.expiresOn > Date.now());
    } finally {
      credential.close();
    }
  });

  it('refuses the SDK a connection when it trusts another CA, another server name, or speaks plaintext', async () => {
    const cases = {
      'wrong CA': { tls: { caFile: wrongCaFile } },
      'wrong server name': { tls: { caFile, serverName: 'not-the-gateway.example' } },
      plaintext: {},
    };
    for (const [name, extra] of Object.entries(cases)) {
      const transport = new GrpcTokenTransport({ endpoints: [gateway], attemptTimeoutMs: 2000, ...extra });
      try {
        await assert.rejects(
          transport.acquireToken(
            { tenantId: workload.tenantId, clientId: workload.clientId, scope: SCOPE, clientAssertion: workload.assertion, clientAssertionType: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', clientSecret: '' },
            { deadline: Date.now() + 3000 },
          ),
          (err: unknown) => {
            assert.ok(err instanceof MeshUnavailableError, `${name}: ${String(err)}`);
            assert.match(err.message, /UNAVAILABLE|DEADLINE_EXCEEDED/, name);
            return true;
          },
        );
      } finally {
        transport.close();
      }
    }
  });

  it('reads the JWK Set through gatewayJwksSource over TLS, and the SDK token verifies against it; another CA gets no key set', async () => {
    const source = gatewayJwksSource({ endpoints: [gateway], tenantId: workload.tenantId, tls: { caPem: fs.readFileSync(caFile) } });
    const credential = new CertificateCredential(workload.tenantId, workload.clientId, workload.privateKey, { endpoints: [gateway], tls: { caFile } });
    const wrong = gatewayJwksSource({ endpoints: [gateway], tenantId: workload.tenantId, tls: { caFile: wrongCaFile }, timeoutMs: 3000 });
    try {
      const jwks = await source();
      assert.ok(jwks.keys.length > 0);
      const token = await credential.getToken(SCOPE, { deadline: Date.now() + 10_000 });
      const { payload } = await jwtVerify(token.token, createLocalJWKSet(jwks), { audience: RESOURCE, typ: 'at+jwt' });
      assert.deepEqual(payload.roles, ['Blob.Read']);
      await assert.rejects(wrong(), MeshUnavailableError);
    } finally {
      source.close();
      wrong.close();
      credential.close();
    }
  });

  it('gets a token and the key set with the CLI given --gateway-ca (or AUTHMESH_GATEWAY_CA), and fails with another CA', () => {
    const cli = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [BIN, ...args, '--endpoint', gateway, '--json'], { encoding: 'utf8', env: { ...process.env, AUTHMESH_MESH_DIR: mesh.dir, ...env }, timeout: 30_000 });
    const tokenArgs = ['token', '--tenant', workload.tenantId, '--client', workload.clientId, '--key', keyFile, '--scope', SCOPE];
    const ok = cli([...tokenArgs, '--gateway-ca', caFile]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { faultDomain: string }).faultDomain, 'regional/eastus');
    const jwks = cli(['jwks', '--tenant', workload.tenantId], { AUTHMESH_GATEWAY_CA: caFile });
    assert.equal(jwks.status, 0, jwks.stderr);
    assert.ok((JSON.parse(jwks.stdout) as { keys: unknown[] }).keys.length > 0);
    const refused = cli([...tokenArgs, '--gateway-ca', wrongCaFile]);
    assert.equal(refused.status, 1);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /UNAVAILABLE/);
  });

  it('lets the identity agent get tokens through a TLS gateway with --gateway-ca, and not with another CA', async () => {
    const agentArgs = (name: string, ca: string) => (port: number) => [
      '--listen', `127.0.0.1:${port}`, '--socket-dir', path.join(mesh.dir, `${name}-run`), '--tenant', workload.tenantId, '--client', workload.clientId,
      '--admin', mesh.address('global'), '--admin-token-file', path.join(mesh.dir, 'global', 'admin-token'),
      '--gateways', gateway, '--gateway-ca', ca, '--data-dir', path.join(mesh.dir, name), '--propagation-delay', '500ms',
    ];
    await mesh.start('agent-good', 'services/identity-agent/main.js', agentArgs('agent-good', caFile));
    await mesh.start('agent-wrong-ca', 'services/identity-agent/main.js', agentArgs('agent-wrong-ca', wrongCaFile));
    const good = new GrpcAgentTransport(mesh.address('agent-good'));
    const wrong = new GrpcAgentTransport(mesh.address('agent-wrong-ca'));
    try {
      const token = await good.getToken(SCOPE, { deadline: Date.now() + 15_000 });
      assert.equal(token.faultDomain, 'regional/eastus');
      await assert.rejects(wrong.getToken(SCOPE, { deadline: Date.now() + 5000 }));
    } finally {
      good.close();
      wrong.close();
    }
  });

  it('answers the Kubernetes health probe over the public TLS port and over mutual TLS, and fails it on NOT_SERVING', async () => {
    const PROBE = path.join(DIST, 'cli', 'health-probe.js');
    // Asynchronous: the mutual TLS server below runs in this process and must keep answering.
    const runProbe = (env: Record<string, string>, service?: string) =>
      new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [PROBE, ...(service === undefined ? [] : ['--service', service])], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 }, (err, stdout, stderr) =>
          resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr }),
        );
      });
    const atGateway = await runProbe({ AUTHMESH_LISTEN: `0.0.0.0:${gateway.split(':')[1]!}`, AUTHMESH_GRPC_TLS: 'true' });
    assert.equal(atGateway.status, 0, atGateway.stdout + atGateway.stderr);
    assert.match(atGateway.stdout, /SERVING/);
    // A plaintext probe cannot read a TLS port.
    assert.equal((await runProbe({ AUTHMESH_LISTEN: gateway })).status, 1);

    const caDir = path.join(mesh.dir, 'probe-ca');
    const ca = createMeshCa(caDir);
    const files = loadOrIssueMeshCert(caDir, ca, 'regional-eastus');
    const server = await serve({ listen: '127.0.0.1:0', services: [], credentials: meshServerCredentials(loadMeshTls(files)) });
    try {
      const env = { AUTHMESH_LISTEN: server.address, AUTHMESH_MESH_CA: files.ca, AUTHMESH_MESH_CERT: files.cert, AUTHMESH_MESH_KEY: files.key };
      const ok = await runProbe(env);
      assert.equal(ok.status, 0, ok.stdout + ok.stderr);
      server.setServing('NOT_SERVING');
      const notServing = await runProbe(env);
      assert.equal(notServing.status, 1);
      assert.match(notServing.stdout, /NOT_SERVING/);
      assert.equal((await runProbe(env, 'authmesh.liveness')).status, 0, 'liveness stays SERVING');
    } finally {
      await server.shutdown(0);
    }
  });

  it('refuses to start a gateway or an identity agent in production mode without TLS on the public path', async () => {
    const caDir = path.join(mesh.dir, 'mesh-ca');
    const files = loadOrIssueMeshCert(caDir, createMeshCa(caDir), 'gateway-eastus');
    const meshArgs = ['--mesh-ca', files.ca, '--mesh-cert', files.cert, '--mesh-key', files.key];
    const gw = spawnService('gateway-production', 'gateway/main.js', [
      '--region', 'eastus', '--listen', '127.0.0.1:0', '--regional', '127.0.0.1:1', '--global', '127.0.0.1:2', ...meshArgs,
    ], { AUTHMESH_MODE: 'production' });
    const agent = spawnService('agent-production', 'services/identity-agent/main.js', [
      '--listen', '127.0.0.1:0', '--tenant', 't', '--client', 'c', ...meshArgs,
    ], { AUTHMESH_MODE: 'production' });
    try {
      assert.equal(await gw.exited, 2);
      assert.match(gw.output.join('\n'), /production mode requires TLS on the public gRPC port: set --grpc-tls/);
      assert.equal(await agent.exited, 2);
      assert.match(agent.output.join('\n'), /production mode requires TLS to the gateways/);
    } finally {
      await gw.stop();
      await agent.stop();
    }
  });
});
