import assert from 'node:assert/strict';
import { AcquireTokenRequest, AcquireTokenResponse } from '../../gen/authmesh/token/v1/token.js';
import { GRPC_HEADERS, grpcFrame, grpcUnframe, h2loadPath, runH2load, sampleGrpcStatus, type H2loadTarget } from '../../bench/h2load.js';
import { ACQUIRE_PATH, requestBytes } from '../../bench/mesh.js';
import { ASSERTION_TYPE } from '../../lib/token/index.js';
import { RESOURCE, TestMesh, type TestWorkload } from '../support/mesh-harness.js';

describe('bench h2load target', function () {
  this.timeout(120_000);
  const mesh = new TestMesh();
  let w: TestWorkload;
  let target: H2loadTarget;

  before(async () => {
    await mesh.startGlobal();
    await mesh.startRegional('eastus');
    w = await mesh.addWorkload('h2load');
    await mesh.startGateway('eastus');
    target = { url: `http://${mesh.address('gateway-eastus')}${ACQUIRE_PATH}`, body: grpcFrame(requestBytes(w, w.assertion)), headers: GRPC_HEADERS };
  });
  after(() => mesh.stop());

  it('sends a body that decodes to the workload\'s AcquireToken request', () => {
    const req = AcquireTokenRequest.decode(grpcUnframe(target.body));
    assert.deepEqual(req, { tenantId: w.tenantId, clientId: w.clientId, scope: `${RESOURCE}/.default`, clientAssertion: w.assertion, clientAssertionType: ASSERTION_TYPE, clientSecret: '' });
  });

  it('gets grpc-status 0 and a token for a sampled call with the exact h2load bytes', async () => {
    const s = await sampleGrpcStatus(target);
    assert.equal(s.httpStatus, 200);
    assert.equal(s.grpcStatus, '0', `grpc-status ${s.grpcStatus}: ${s.grpcMessage}`);
    const res = AcquireTokenResponse.decode(s.message);
    assert.equal(res.tokenType, 'Bearer');
    assert.equal(res.accessToken.split('.').length, 3);
  });

  it('gets a non-zero grpc-status for a sampled call whose assertion is tampered with', async () => {
    const bad = requestBytes(w, `${w.assertion.slice(0, -4)}AAAA`);
    const s = await sampleGrpcStatus({ ...target, body: grpcFrame(bad) });
    assert.equal(s.httpStatus, 200);
    assert.notEqual(s.grpcStatus, '0');
  });

  it('answers HTTP 200 to every call of a fixed-count h2load run', async function () {
    const bin = h2loadPath();
    if (bin === undefined) {
      console.log('      skipped: h2load is missing (apt-get install -y nghttp2-client)');
      this.skip();
    }
    const r = await runH2load(bin, target, { inFlight: 8, connections: 2, durationS: 1, warmupS: 0, requests: 2000 });
    console.log(`      h2load: ${Math.round(r.rps)} calls/s, ${r.done} done, ${r.succeeded} succeeded, ${r.status2xx} 2xx, ${r.failed} failed, ${r.errored} errored`);
    assert.equal(r.done, 2000, 'every call finished');
    assert.equal(r.status2xx, 2000, 'every call answered HTTP 200');
    assert.equal(r.failed, 0);
    assert.equal(r.errored, 0);
  });
});
