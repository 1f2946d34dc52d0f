import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { GrpcAgentTransport } from '../../client/index.js';
import { RESOURCE, TestMesh } from '../support/mesh-harness.js';
import { sleep, spawnService, type SpawnedService } from '../support/spawn-service.js';

const LIFETIME = ['--token-lifetime', '4s'];
const SCOPE = `${RESOURCE}/.default`;

/** Ports a process listens on over TCP (IPv4 and IPv6), read from /proc: its sockets matched to the kernel's listening ones. */
function tcpListenPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    const link = (() => {
      try {
        return fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return '';
      }
    })();
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m !== null) inodes.add(m[1]!);
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT, st 0A is LISTEN, field 9 the socket's inode.
      if (f.length > 9 && f[3] === '0A' && inodes.has(f[9]!)) ports.push(parseInt(f[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

/** Waits until the agent logs that it serves (it has registered its credential by then). */
async function serving(agent: SpawnedService): Promise<void> {
  const until = Date.now() + 30_000;
  while (!agent.output.some((l) => l.includes('identity agent serving'))) {
    if (agent.child.exitCode !== null || Date.now() > until) throw new Error(`agent did not start:\n${agent.output.slice(-20).join('\n')}`);
    await sleep(50);
  }
}

/** The managed identity agent rotates its credential on a short validity under steady use. */
describe('identity agent (system)', function () {
  this.timeout(120_000);
  let mesh: TestMesh;
  let tenantId: string;
  let clientId: string;
  let hostTokenFile: string;
  /** Not there before the agent starts: the agent creates it. */
  let socketDir: string;

  before(async () => {
    mesh = new TestMesh();
    await mesh.startGlobal(LIFETIME);
    tenantId = await mesh.seedTenant();
    ({ clientId } = await mesh.adminCall<{ clientId: string }>((c) => (m, o, cb) => c.createApp({ tenantId, name: 'host-vm-1' }, m, o, cb)));
    await mesh.adminCall((c) => (m, o, cb) => c.grantRole({ tenantId, clientId, resource: RESOURCE, role: 'Blob.Read' }, m, o, cb));
    await mesh.startRegional('eastus', LIFETIME);
    await mesh.startGateway('eastus');
    // The agent holds a host token, not the admin token: it may only rotate this app's certificates.
    const { token } = await mesh.adminCall<{ token: string }>((c) => (m, o, cb) => c.createHostToken({ tenantId, clientId, lifetimeSeconds: 3600 }, m, o, cb));
    hostTokenFile = path.join(mesh.dir, 'host-token');
    fs.writeFileSync(hostTokenFile, `${token}\n`, { mode: 0o600 });
    socketDir = path.join(mesh.dir, 'run', 'authmesh');
    // No --listen: the agent serves its Unix socket only.
    const agent = spawnService('identity-agent', 'services/identity-agent/main.js', [
      '--socket-dir', socketDir, '--tenant', tenantId, '--client', clientId,
      '--admin', mesh.address('global'), '--admin-token-file', hostTokenFile,
      '--gateways', mesh.address('gateway-eastus'), '--data-dir', path.join(mesh.dir, 'agent'),
      '--credential-validity', '6s', '--rotate-before', '3s', '--propagation-delay', '500ms',
    ]);
    mesh.procs.set('identity-agent', agent);
    await serving(agent);
  });

  after(async () => {
    await mesh?.stop();
  });

  const switches = (): Array<{ keyId: string; previousKeyId?: string }> =>
    mesh.procs.get('identity-agent')!.output
      .filter((l) => l.includes('"credential-switched"'))
      .map((l) => JSON.parse(l) as { keyId: string; previousKeyId?: string });

  it('creates its Unix socket with mode 0660 in a directory it creates with mode 0750, and listens on no TCP port when not asked', () => {
    const socket = path.join(socketDir, 'agent.sock');
    const stat = fs.lstatSync(socket);
    assert.ok(stat.isSocket(), `${socket} is not a socket`);
    assert.equal((stat.mode & 0o777).toString(8), '660');
    assert.equal((fs.statSync(socketDir).mode & 0o777).toString(8), '750');
    assert.deepEqual(tcpListenPorts(mesh.procs.get('identity-agent')!.pid), []);
  });

  it('serves on loopback TCP as well when given --listen', async () => {
    const { clientId: other } = await mesh.adminCall<{ clientId: string }>((c) => (m, o, cb) => c.createApp({ tenantId, name: 'host-vm-2' }, m, o, cb));
    await mesh.adminCall((c) => (m, o, cb) => c.grantRole({ tenantId, clientId: other, resource: RESOURCE, role: 'Blob.Read' }, m, o, cb));
    const { token } = await mesh.adminCall<{ token: string }>((c) => (m, o, cb) => c.createHostToken({ tenantId, clientId: other, lifetimeSeconds: 3600 }, m, o, cb));
    const tokenFile = path.join(mesh.dir, 'host-token-2');
    fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const dir = path.join(mesh.dir, 'run', 'agent-tcp');
    const proc = await mesh.start('identity-agent-tcp', 'services/identity-agent/main.js', (port) => [
      '--listen', `127.0.0.1:${port}`, '--socket-dir', dir, '--tenant', tenantId, '--client', other,
      '--admin', mesh.address('global'), '--admin-token-file', tokenFile,
      '--gateways', mesh.address('gateway-eastus'), '--data-dir', path.join(mesh.dir, 'agent-tcp'), '--propagation-delay', '500ms',
    ]);
    const port = Number(mesh.address('identity-agent-tcp').split(':')[1]);
    assert.deepEqual(tcpListenPorts(proc.pid), [port]);
    assert.equal((fs.lstatSync(path.join(dir, 'agent.sock')).mode & 0o777).toString(8), '660', 'the socket is there too');
    const agent = new GrpcAgentTransport(mesh.address('identity-agent-tcp'));
    try {
      const t = await agent.getToken(SCOPE, { deadline: Date.now() + 10_000 });
      assert.equal(t.faultDomain, 'regional/eastus');
    } finally {
      agent.close();
    }
  });

  it('serves every token request across two rotations with a host token over its Unix socket and leaves only the current credential registered', async () => {
    const agent = new GrpcAgentTransport(path.join(socketDir, 'agent.sock'));
    let sent = 0;
    let failed = 0;
    const errors: string[] = [];
    const domains: Record<string, number> = {};
    const started = Date.now();
    let rotationsDoneAt = 0;
    try {
      while (Date.now() - started < 40_000) {
        sent += 1;
        try {
          const t = await agent.getToken(SCOPE, { deadline: Date.now() + 3000 });
          assert.ok(t.expiresOn > Date.now());
          domains[t.faultDomain] = (domains[t.faultDomain] ?? 0) + 1;
        } catch (err) {
          failed += 1;
          if (errors.length < 5) errors.push(String(err));
        }
        const rotations = switches().filter((s) => s.previousKeyId !== undefined).length;
        if (rotations >= 2 && rotationsDoneAt === 0) rotationsDoneAt = Date.now();
        // Keep asking a little past the second rotation, through the removal of the old key.
        if (rotationsDoneAt > 0 && Date.now() - rotationsDoneAt > 1500) break;
        await sleep(50);
      }
    } finally {
      agent.close();
    }
    const all = switches();
    console.log(`      ${sent} token requests over ${Date.now() - started} ms, ${failed} failed; ${all.length - 1} rotations; domains ${JSON.stringify(domains)}`);
    assert.equal(failed, 0, errors.join('; '));
    assert.ok(all.filter((s) => s.previousKeyId !== undefined).length >= 2, 'at least two rotations');

    const current = all.at(-1)!.keyId;
    const app = await mesh.adminCall<{ credentials: Array<{ keyId: string }> }>((c) => (m, o, cb) => c.getApp({ tenantId, clientId }, m, o, cb));
    const registered = app.credentials.map((c) => c.keyId);
    console.log(`      registered after rotation: ${JSON.stringify(registered)} (current ${current})`);
    for (const s of all.slice(0, -1)) assert.ok(!registered.includes(s.keyId), `old credential ${s.keyId} removed`);
    assert.deepEqual(registered, [current]);
  });
});
