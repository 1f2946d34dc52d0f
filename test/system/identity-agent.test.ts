import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { GrpcAgentTransport } from '../../client/index.js';
import { RESOURCE, TestMesh } from '../support/mesh-harness.js';
import { sleep } from '../support/spawn-service.js';

const LIFETIME = ['--token-lifetime', '4s'];
const SCOPE = `${RESOURCE}/.default`;

/** The managed identity agent rotates its credential on a short validity under steady use. */
describe('identity agent (system)', function () {
  this.timeout(120_000);
  let mesh: TestMesh;
  let tenantId: string;
  let clientId: string;

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
    const hostTokenFile = path.join(mesh.dir, 'host-token');
    fs.writeFileSync(hostTokenFile, `${token}\n`, { mode: 0o600 });
    await mesh.start('identity-agent', 'services/identity-agent/main.js', (port) => [
      '--listen', `127.0.0.1:${port}`, '--tenant', tenantId, '--client', clientId,
      '--admin', mesh.address('global'), '--admin-token-file', hostTokenFile,
      '--gateways', mesh.address('gateway-eastus'), '--data-dir', path.join(mesh.dir, 'agent'),
      '--credential-validity', '6s', '--rotate-before', '3s', '--propagation-delay', '500ms',
    ]);
  });

  after(async () => {
    await mesh?.stop();
  });

  const switches = (): Array<{ keyId: string; previousKeyId?: string }> =>
    mesh.procs.get('identity-agent')!.output
      .filter((l) => l.includes('"credential-switched"'))
      .map((l) => JSON.parse(l) as { keyId: string; previousKeyId?: string });

  it('serves every token request across two rotations with a host token and leaves only the current credential registered', async () => {
    const agent = new GrpcAgentTransport(mesh.address('identity-agent'));
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
