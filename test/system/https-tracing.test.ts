import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { buildAssertion } from '../../lib/token/index.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../lib/telemetry/index.js';
import { acquire } from '../support/mesh-harness.js';
import { sleep } from '../support/spawn-service.js';
import { SCOPE, startHttpMesh, type HttpMesh } from '../integration/gateway-http/http-mesh.js';

const SERVER = 2;
const TOKEN_SPAN = 'POST /{tenant}/oauth2/v2.0/token';

/**
 * Traces of the gateway's HTTPS OAuth front on real processes, exported over OTLP/HTTP to a real
 * receiver: one server span per request named and attributed by the HTTP semantic conventions,
 * the caller's traceparent honoured, and every attempt (HTTPS and gRPC alike) a child inside its
 * call's trace, through a failover when regional is killed.
 */
describe('tracing of the HTTPS front (system)', function () {
  this.timeout(90_000);
  let receiver: OtlpReceiver;
  let h: HttpMesh;
  const callerTrace = randomBytes(16).toString('hex');
  const callerSpan = randomBytes(8).toString('hex');
  let spans: ReceivedSpan[] = [];

  const postToken = async (headers: Record<string, string> = {}): Promise<number> => {
    const res = await h.fetch(h.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE, client_id: h.secretWorkload.clientId, client_secret: h.secretWorkload.secret }).toString(),
    });
    await res.arrayBuffer();
    return res.status;
  };

  before(async () => {
    receiver = await startOtlpReceiver({ listen: '127.0.0.1:0', maxTraces: 5000 });
    h = await startHttpMesh({ OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '100' });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i += 1) statuses.push(await postToken());
    statuses.push(await postToken({ traceparent: `00-${callerTrace}-${callerSpan}-01` }));
    const grpc = h.mesh.tokenClient('gateway-eastus');
    const w = h.certWorkload;
    const { assertion } = await buildAssertion({ tenantId: w.tenantId, clientId: w.clientId, issuer: h.base, privateKey: w.privateKey, lifetimeSeconds: 600 });
    const workload = { ...w, assertion };
    for (let i = 0; i < 5; i += 1) assert.ok((await acquire(grpc, workload)).response);
    // Regional hangs: the next calls try it, give up on it and are answered by global.
    h.mesh.signal('regional-eastus', 'SIGSTOP');
    for (let i = 0; i < 10; i += 1) statuses.push(await postToken());
    for (let i = 0; i < 5; i += 1) assert.ok((await acquire(grpc, workload)).response);
    assert.deepEqual(statuses.filter((s) => s !== 200), [], 'every HTTPS token request was answered');

    // Wait until every HTTPS request's server span and every attempt's parent have come in.
    const until = Date.now() + 20_000;
    for (;;) {
      spans = receiver.spans();
      const https = spans.filter((s) => s.kind === SERVER && s.name === TOKEN_SPAN).length;
      const ids = new Set(spans.map((s) => `${s.traceId}/${s.spanId}`));
      const attempts = spans.filter((s) => s.name === 'authmesh.attempt');
      const orphans = attempts.filter((s) => !ids.has(`${s.traceId}/${s.parentSpanId}`)).length;
      if (https >= 21 && attempts.length >= 31 && orphans === 0) break;
      if (Date.now() > until) break; // the assertions below say what is missing
      await sleep(100);
    }
  });

  after(async () => {
    h?.mesh.signal('regional-eastus', 'SIGCONT');
    await h?.close();
    await receiver?.close();
  });

  it('names one server span per HTTPS request after its route, with the HTTP semantic-convention attributes', () => {
    const server = spans.filter((s) => s.kind === SERVER && s.name === TOKEN_SPAN);
    assert.equal(server.length, 21, `HTTPS server spans: ${server.length}`);
    for (const s of server) {
      assert.equal(s.attributes['http.request.method'], 'POST');
      assert.equal(s.attributes['url.path'], `/${h.tenantId}/oauth2/v2.0/token`);
      assert.equal(s.attributes['http.route'], '/{tenant}/oauth2/v2.0/token');
      assert.equal(s.attributes['http.response.status_code'], 200);
      assert.equal(s.attributes['client.address'], '127.0.0.1');
      assert.equal(s.attributes['url.scheme'], 'https');
      assert.ok(Array.isArray(s.attributes['authmesh.route.order']) || typeof s.attributes['authmesh.route.order'] === 'string', `no authmesh.route.order on ${JSON.stringify(s.attributes)}`);
      assert.ok('authmesh.route.rerouted' in s.attributes);
    }
    console.log(`      ${server.length} HTTPS server spans, e.g. ${JSON.stringify(server[0]!.attributes)}`);
  });

  it("continues the caller's W3C traceparent", () => {
    const joined = spans.find((s) => s.kind === SERVER && s.name === TOKEN_SPAN && s.traceId === callerTrace);
    assert.ok(joined !== undefined, 'no HTTPS server span in the caller trace');
    assert.equal(joined.parentSpanId, callerSpan);
    assert.ok(spans.some((s) => s.name === 'authmesh.attempt' && s.traceId === callerTrace && s.parentSpanId === joined.spanId), 'its attempt is not its child');
  });

  it('gives every exported attempt span a parent in its own trace, HTTPS and gRPC calls alike', () => {
    const ids = new Set(spans.map((s) => `${s.traceId}/${s.spanId}`));
    const attempts = spans.filter((s) => s.name === 'authmesh.attempt');
    const orphans = attempts.filter((s) => s.parentSpanId === undefined || !ids.has(`${s.traceId}/${s.parentSpanId}`));
    const byId = new Map(spans.map((s) => [`${s.traceId}/${s.spanId}`, s]));
    const viaHttps = attempts.filter((s) => byId.get(`${s.traceId}/${s.parentSpanId}`)?.name === TOKEN_SPAN).length;
    console.log(`      ${attempts.length} attempt spans, ${viaHttps} under an HTTPS server span, ${orphans.length} without a parent`);
    assert.ok(viaHttps >= 21, `only ${viaHttps} attempts under an HTTPS server span`);
    assert.ok(attempts.length - viaHttps >= 10, 'the gRPC calls left their attempts');
    assert.deepEqual(orphans.map((s) => s.traceId), []);
  });

  it('shows a failover on the HTTPS front as one trace: the regional attempt given up on and the global answer under one server span', () => {
    const server = spans.filter((s) => s.kind === SERVER && s.name === TOKEN_SPAN);
    const failover = server.find((root) => {
      const children = spans.filter((s) => s.name === 'authmesh.attempt' && s.traceId === root.traceId && s.parentSpanId === root.spanId);
      return children.some((c) => c.attributes['authmesh.fault_domain'] === 'regional/eastus' && c.attributes['authmesh.outcome'] !== 'answered') &&
        children.some((c) => c.attributes['authmesh.fault_domain'] === 'global' && c.attributes['authmesh.outcome'] === 'answered');
    });
    assert.ok(failover !== undefined, 'no HTTPS trace holds both the failed regional attempt and the global answer');
    assert.ok(spans.some((s) => s.traceId === failover.traceId && s.kind === SERVER && s.service.includes('global')), "global's server span is not in the trace");
  });
});
