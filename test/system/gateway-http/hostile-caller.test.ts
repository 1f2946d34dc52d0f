import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { BreakerState, GatewayAdminServiceClient, type GetStatusResponse } from '../../../gen/authmesh/gateway/v1/gateway.js';
import { bearer, unary } from '../../../lib/grpc/index.js';
import { SCOPE, startHttpMesh, type HttpMesh } from '../../integration/gateway-http/http-mesh.js';

/**
 * The HTTPS front under an anonymous caller: bodies that are no form, wrong content types, huge
 * bodies and headers, unknown paths and tenants. Each is the caller's error; none may count
 * against a fault domain, so afterwards every breaker is closed and tokens come from the home
 * regional.
 */
describe('gateway HTTPS front under a hostile caller (system)', function () {
  this.timeout(90_000);
  let h: HttpMesh;

  before(async () => {
    h = await startHttpMesh();
  });

  after(async () => {
    await h?.close();
  });

  async function send(url: string, init: RequestInit): Promise<number> {
    try {
      const res = await h.fetch(url, init);
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 0; // the server closed the connection (headers past its limit)
    }
  }

  async function gatewayStatus(): Promise<GetStatusResponse> {
    const client = new GatewayAdminServiceClient(h.mesh.address('gateway-eastus'), credentials.createInsecure());
    try {
      const token = readFileSync(path.join(h.mesh.dir, 'global', 'mesh-token'), 'utf8').trim();
      return await unary<GetStatusResponse>((m, o, cb) => client.getStatus({}, m, o, cb), { metadata: bearer(token), timeoutMs: 2000 });
    } finally {
      client.close();
    }
  }

  it('answers every malformed request as the caller\'s error, leaves every breaker closed and keeps tokens on regional/eastus', async () => {
    const form = 'application/x-www-form-urlencoded';
    const attacks: { name: string; url: string; init: RequestInit }[] = [
      { name: 'binary body', url: h.tokenUrl, init: { method: 'POST', headers: { 'content-type': form }, body: Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x80]) } },
      { name: 'json body', url: h.tokenUrl, init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":"client_credentials"}' } },
      { name: 'no grant type', url: h.tokenUrl, init: { method: 'POST', headers: { 'content-type': form }, body: 'scope=x' } },
      { name: 'unknown grant', url: h.tokenUrl, init: { method: 'POST', headers: { 'content-type': form }, body: 'grant_type=password&username=a&password=b' } },
      { name: 'duplicate parameters', url: h.tokenUrl, init: { method: 'POST', headers: { 'content-type': form }, body: `grant_type=client_credentials&grant_type=client_credentials&scope=${SCOPE}` } },
      { name: 'garbage assertion', url: h.tokenUrl, init: { method: 'POST', headers: { 'content-type': form }, body: `grant_type=client_credentials&scope=${encodeURIComponent(SCOPE)}&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=%ff%ff.%00.x` } },
      { name: 'huge body', url: h.tokenUrl, init: { method: 'POST', headers: { 'content-type': form }, body: 'a='.padEnd(200_000, 'x') } },
      { name: 'unknown tenant', url: `${h.base}/${'z'.repeat(300)}/oauth2/v2.0/token`, init: { method: 'POST', headers: { 'content-type': form }, body: 'grant_type=client_credentials' } },
      { name: 'unknown path', url: `${h.base}/../../etc/passwd`, init: { method: 'GET' } },
      { name: 'huge header', url: h.tokenUrl, init: { method: 'POST', headers: { 'content-type': form, 'x-junk': 'j'.repeat(70_000) }, body: 'grant_type=client_credentials' } },
    ];
    const seen: Record<string, number[]> = {};
    for (let round = 0; round < 20; round += 1) {
      const statuses = await Promise.all(attacks.map((a) => send(a.url, a.init)));
      statuses.forEach((s, i) => (seen[attacks[i]!.name] ??= []).push(s));
    }
    for (const [name, statuses] of Object.entries(seen)) {
      for (const s of statuses) assert.ok(s === 0 || (s >= 400 && s < 500), `${name}: HTTP ${s} is not a caller's error`);
    }
    console.log(`      ${attacks.length * 20} hostile HTTPS requests: ${JSON.stringify(Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, [...new Set(v)]])))}`);
    const s = await gatewayStatus();
    for (const d of s.domains) {
      assert.equal(d.breakerState, BreakerState.BREAKER_STATE_CLOSED, `${d.name} breaker ${d.breakerState}`);
      assert.equal(d.errors, 0, `${d.name} counted ${d.errors} faults`);
    }
    const body = new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE, client_id: h.secretWorkload.clientId, client_secret: h.secretWorkload.secret });
    const served: Record<string, number> = {};
    for (let i = 0; i < 30; i += 1) {
      const res = await h.fetch(h.tokenUrl, { method: 'POST', headers: { 'content-type': form }, body: String(body) });
      await res.arrayBuffer();
      assert.equal(res.status, 200, `legitimate request ${i} answered ${res.status}`);
      const d = res.headers.get('authmesh-fault-domain') ?? '?';
      served[d] = (served[d] ?? 0) + 1;
    }
    assert.deepEqual(served, { 'regional/eastus': 30 });
  });
});
