import assert from 'node:assert/strict';
import fs from 'node:fs';
import http2 from 'node:http2';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { BreakerState, GatewayAdminServiceClient, type GetStatusResponse } from '../../gen/authmesh/gateway/v1/gateway.js';
import { unary } from '../../lib/grpc/index.js';
import { ChaosMesh } from '../support/chaos-mesh.js';
import { acquire } from '../support/mesh-harness.js';
import { attack, hostileCalls, percentiles, sendHostile, type HostileAnswer } from '../support/hostile-client.js';

const CALLER_CODES = new Set([status.INVALID_ARGUMENT, status.UNAUTHENTICATED, status.PERMISSION_DENIED, status.UNIMPLEMENTED, status.RESOURCE_EXHAUSTED].map(String));

/**
 * An anonymous caller sends everything a gRPC port can be sent that is not a request, through the
 * gateway's public front over both domain transports and straight at every fault domain. None of
 * it may count against a domain: afterwards every breaker is closed and legitimate calls are all
 * answered by the home regional.
 */
describe('hostile caller (system)', function () {
  this.timeout(180_000);
  const chaos = new ChaosMesh();
  const mesh = chaos.mesh;
  let adminToken = '';

  before(async function () {
    this.timeout(120_000);
    await chaos.start(4);
    await mesh.start('gateway-grpcjs', 'gateway/main.js', (port) => [
      '--region', 'eastus', '--listen', `127.0.0.1:${port}`, '--regional', mesh.address('regional-eastus'), '--global', mesh.address('global'),
      '--backup', mesh.address('backup'), '--backup-token-file', chaos.files.meshTokenFile, '--transport', 'grpc-js',
    ]);
    adminToken = fs.readFileSync(chaos.files.meshTokenFile, 'utf8').trim();
  });

  after(() => chaos.stop());

  async function gatewayStatus(name: string): Promise<GetStatusResponse> {
    const client = new GatewayAdminServiceClient(mesh.address(name), credentials.createInsecure());
    try {
      const md = new Metadata();
      md.set('authorization', `Bearer ${adminToken}`);
      return await unary<GetStatusResponse>((m, o, cb) => client.getStatus({}, m, o, cb), { metadata: md, timeoutMs: 2000 });
    } finally {
      client.close();
    }
  }

  function assertAnswers(answers: readonly HostileAnswer[]): void {
    const expected = new Map(hostileCalls().map((c) => [c.name, c.invalidRequest]));
    for (const a of answers) {
      if (expected.get(a.name) === true) {
        assert.equal(a.grpcStatus, String(status.INVALID_ARGUMENT), `${a.name}: grpc-status ${a.grpcStatus}`);
        assert.equal(a.oauthError, 'invalid_request', `${a.name}: oauth-error ${a.oauthError}`);
      } else if (a.grpcStatus !== undefined) {
        assert.ok(CALLER_CODES.has(a.grpcStatus), `${a.name}: grpc-status ${a.grpcStatus} is not a caller's error`);
      }
    }
  }

  for (const [gateway, transport] of [['gateway-eastus', 'relay'], ['gateway-grpcjs', 'grpc-js']] as const) {
    it(`leaves every breaker closed and legitimate calls on regional/eastus after an attack through the gRPC front (${transport} transport)`, async () => {
      const answers = await attack(mesh.address(gateway), 30);
      assertAnswers(answers);
      const bad = answers.filter((a) => a.grpcStatus === String(status.INVALID_ARGUMENT));
      const { p50, p99 } = percentiles(bad.map((a) => a.ms));
      console.log(`      ${answers.length} hostile calls (${transport}); INVALID_ARGUMENT round trip at the caller p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms`);
      const s = await gatewayStatus(gateway);
      for (const d of s.domains) {
        assert.equal(d.breakerState, BreakerState.BREAKER_STATE_CLOSED, `${d.name} breaker ${d.breakerState}`);
        assert.equal(d.errors, 0, `${d.name} counted ${d.errors} faults`);
      }
      const client = mesh.tokenClient(gateway);
      const served: Record<string, number> = {};
      for (let i = 0; i < 50; i += 1) {
        const o = await acquire(client, chaos.workload());
        assert.ok(o.response, `legitimate call ${i} failed: ${o.error?.code} ${o.error?.details}`);
        served[o.response.faultDomain] = (served[o.response.faultDomain] ?? 0) + 1;
      }
      assert.deepEqual(served, { 'regional/eastus': 50 });
    });
  }

  it('has every fault domain answer undecodable requests INVALID_ARGUMENT with oauth-error invalid_request', async () => {
    // Bytes that frame and inflate correctly but are no request; framing lies never reach a domain
    // (the gateway answers them itself), and grpc-js answers a body that does not inflate INTERNAL.
    const content = hostileCalls().filter((c) => c.invalidRequest && c.body.length > 5 && c.body.readUInt32BE(1) === c.body.length - 5 && c.name !== 'gzip encoding, bytes not gzip');
    for (const domain of ['regional-eastus', 'global', 'backup']) {
      // The domains speak mutual TLS inside the mesh: the caller presents a gateway's certificate.
      const f = mesh.certFiles('gateway-eastus');
      const session = http2.connect(`https://${mesh.address(domain)}`, {
        ca: fs.readFileSync(f.ca), key: fs.readFileSync(f.key), cert: fs.readFileSync(f.cert),
        // The CA is checked; the peer's name is not what this test is about.
        checkServerIdentity: () => undefined,
      });
      session.on('error', () => undefined);
      try {
        for (const c of content) {
          const a = await sendHostile(session, { ...c, headers: { ...c.headers, authorization: `Bearer ${adminToken}` } });
          assert.equal(a.grpcStatus, String(status.INVALID_ARGUMENT), `${domain} ${c.name}: grpc-status ${a.grpcStatus}`);
          assert.equal(a.oauthError, 'invalid_request', `${domain} ${c.name}: oauth-error ${a.oauthError}`);
        }
      } finally {
        session.close();
      }
    }
  });
});
