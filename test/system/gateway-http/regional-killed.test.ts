import assert from 'node:assert/strict';
import { SCOPE, startHttpMesh, type HttpMesh } from '../../integration/gateway-http/http-mesh.js';

/** The HTTPS token endpoint fails over like the gRPC one: same loop, same breakers. */
describe('gateway HTTPS front failover (system)', function () {
  this.timeout(90_000);
  let h: HttpMesh;

  before(async () => {
    h = await startHttpMesh();
  });

  after(async () => {
    await h?.close();
  });

  async function token(): Promise<{ status: number; domain: string | null }> {
    const form = new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE, client_id: h.secretWorkload.clientId, client_secret: h.secretWorkload.secret });
    const res = await h.fetch(h.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: String(form) });
    await res.arrayBuffer();
    return { status: res.status, domain: res.headers.get('authmesh-fault-domain') };
  }

  it('keeps issuing tokens over HTTPS, served by global, when regional-eastus is killed', async () => {
    const before = await token();
    assert.deepEqual(before, { status: 200, domain: 'regional/eastus' });
    await h.mesh.kill('regional-eastus');
    const domains: Record<string, number> = {};
    for (let i = 0; i < 50; i += 1) {
      const r = await token();
      assert.equal(r.status, 200, `request ${i} after the kill answered ${r.status}`);
      domains[r.domain ?? '?'] = (domains[r.domain ?? '?'] ?? 0) + 1;
    }
    console.log(`      after regional-eastus SIGKILL: ${JSON.stringify(domains)}`);
    assert.deepEqual(Object.keys(domains), ['global']);
  });
});
