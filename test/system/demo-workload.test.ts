import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { RESOURCE, TestMesh } from '../support/mesh-harness.js';
import { sleep, spawnService } from '../support/spawn-service.js';

/** The demo workload reads from the storage example with the token its call credentials attach. */
describe('examples/demo-workload (system)', function () {
  this.timeout(90_000);
  let mesh: TestMesh;

  before(async () => {
    mesh = new TestMesh();
    await mesh.startGlobal();
    const worker = await mesh.addWorkload('demo-worker');
    await mesh.startRegional('eastus');
    await mesh.startGateway('eastus');
    await mesh.start('storage', 'examples/storage/main.js', (port) => ['--listen', `127.0.0.1:${port}`, '--tenant', worker.tenantId, '--gateways', mesh.address('gateway-eastus')]);
    const keyFile = path.join(mesh.dir, 'demo-key.pem');
    writeFileSync(keyFile, worker.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), { mode: 0o600 });
    const seed = path.join(mesh.dir, 'seed.json');
    writeFileSync(seed, JSON.stringify({ tenantId: worker.tenantId, clientId: worker.clientId, resource: RESOURCE, keyFile }));
    // Registered with the mesh, so mesh.stop() ends it with the rest.
    mesh.procs.set('demo-workload', spawnService('demo-workload', 'examples/demo-workload/main.js', [
      '--seed', seed, '--gateways', mesh.address('gateway-eastus'), '--storage', mesh.address('storage'), '--interval', '200ms',
    ]));
  });

  after(async () => {
    await mesh?.stop();
  });

  it('reads blobs from the storage example with the token grpcCallCredentials attached', async () => {
    const demo = mesh.procs.get('demo-workload')!;
    const until = Date.now() + 30_000;
    const events = (): { event?: string; tokenFaultDomain?: string }[] =>
      demo.output.flatMap((l) => { try { return [JSON.parse(l) as { event?: string; tokenFaultDomain?: string }]; } catch { return []; } });
    const settled = (): boolean => events().some((e) => e.event === 'read-failed') || events().filter((e) => e.event === 'read').length >= 2;
    while (!settled() && Date.now() < until && demo.child.exitCode === null) await sleep(100);
    const seen = events();
    assert.deepEqual(seen.filter((e) => e.event === 'read-failed'), [], demo.output.slice(-10).join('\n'));
    const reads = seen.filter((e) => e.event === 'read');
    assert.ok(reads.length >= 2, `no reads:\n${demo.output.slice(-10).join('\n')}`);
    assert.equal(reads[0]!.tokenFaultDomain, 'regional/eastus');
  });
});
