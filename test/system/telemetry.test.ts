import assert from 'node:assert/strict';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../lib/telemetry/index.js';
import { buildTraces, isFailoverTrace, renderTrace, type TraceView } from '../../lib/telemetry/trace-tree.js';
import { TestMesh, acquire, runLoad, type TestWorkload } from '../support/mesh-harness.js';
import { metricsUrl, sample, scrape } from '../support/metrics-scrape.js';
import { sleep } from '../support/spawn-service.js';

const SERVER = 2;

/** The first span above `span` (inclusive) that satisfies `test`, walking parents inside the trace. */
function ancestor(trace: TraceView, span: ReceivedSpan, test: (s: ReceivedSpan) => boolean): ReceivedSpan | undefined {
  const byId = new Map(trace.spans.map((s) => [s.spanId, s]));
  for (let s: ReceivedSpan | undefined = span; s !== undefined; s = s.parentSpanId === undefined ? undefined : byId.get(s.parentSpanId)) {
    if (test(s)) return s;
  }
  return undefined;
}

/**
 * Real processes sending spans to a real OTLP/HTTP receiver on 127.0.0.1: global, regional-eastus
 * and gateway-eastus with the SDK on; regional-eastus is killed under load.
 */
describe('telemetry of a failover (system)', function () {
  this.timeout(90_000);
  let receiver: OtlpReceiver;
  let mesh: TestMesh;
  let workload: TestWorkload;
  let gatewayMetrics: string;
  let beforeText: string;
  let failover: TraceView | undefined;

  before(async () => {
    receiver = await startOtlpReceiver({ listen: '127.0.0.1:0', maxTraces: 5000 });
    mesh = new TestMesh();
    mesh.env = { OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '100' };
    await mesh.startGlobal();
    workload = await mesh.addWorkload('traced-worker');
    await mesh.startRegional('eastus');
    await mesh.startGateway('eastus', ['--metrics-listen', '127.0.0.1:0']);
    gatewayMetrics = await metricsUrl(mesh.procs.get('gateway-eastus')!);
    const first = await acquire(mesh.tokenClient('gateway-eastus'), workload);
    assert.equal(first.response?.faultDomain, 'regional/eastus', first.error?.details);
    // The trailers of a successful answer survive the grpc-js instrumentation.
    assert.match(String(first.trailers?.get('authmesh-data-age-ms')[0]), /^\d+$/);
    assert.equal(first.trailers?.get('authmesh-fault-domain')[0], 'regional/eastus');
    beforeText = await scrape(gatewayMetrics);

    const gw = mesh.tokenClient('gateway-eastus');
    let killed = false;
    const report = await runLoad(() => acquire(gw, workload, 5000), {
      concurrency: 4,
      durationMs: 3000,
      maxRequests: 2000,
      onTick: (sent) => {
        if (!killed && sent === 100) {
          killed = true;
          void mesh.kill('regional-eastus');
        }
      },
    });
    assert.equal(report.failed, 0, report.errors.join('; '));
    assert.ok((report.byDomain.global ?? 0) > 0, 'global answered after the kill');
    // Wait for a failover trace that has global's server span in it (spans arrive in batches).
    const until = Date.now() + 15_000;
    while (failover === undefined && Date.now() < until) {
      failover = buildTraces(receiver.spans()).find(
        (t) =>
          isFailoverTrace(t) &&
          t.spans.some((s) => s.name === 'authmesh.attempt' && s.attributes['authmesh.failover.reason'] !== undefined) &&
          t.spans.some((s) => s.service === 'authmesh-global' && s.kind === SERVER),
      );
      if (failover === undefined) await sleep(200);
    }
  });

  after(async () => {
    await mesh?.stop();
    await receiver?.close();
  });

  it('records one trace from the gateway attempts to the server span in global when regional-eastus is killed', () => {
    assert.ok(failover !== undefined, `no failover trace among ${buildTraces(receiver.spans()).length} traces`);
    console.log(renderTrace(failover).replace(/^/gm, '      '));
    const attempts = failover.spans.filter((s) => s.name === 'authmesh.attempt').sort((a, b) => Number(a.attributes['authmesh.attempt']) - Number(b.attributes['authmesh.attempt']));
    assert.ok(attempts.length >= 2, 'two attempts or more');
    const failed = attempts[0]!;
    const good = attempts[attempts.length - 1]!;
    assert.equal(failed.attributes['authmesh.fault_domain'], 'regional/eastus');
    assert.equal(failed.status.code, 2, 'the failed attempt has an error status');
    assert.equal(typeof failed.attributes['authmesh.failover.reason'], 'string');
    assert.ok(['fault', 'refused'].includes(String(failed.attributes['authmesh.outcome'])));
    assert.ok(typeof failed.attributes['authmesh.breaker.state'] === 'string');
    assert.equal(good.attributes['authmesh.fault_domain'], 'global');
    assert.equal(good.attributes['authmesh.outcome'], 'answered');
    assert.notEqual(good.status.code, 2);
    const globalServer = failover.spans.find((s) => s.service === 'authmesh-global' && s.kind === SERVER)!;
    assert.equal(globalServer.traceId, good.traceId);
    assert.equal(ancestor(failover, globalServer, (s) => s.name === 'authmesh.attempt')?.spanId, good.spanId, 'the server span in global descends from the good attempt');
    assert.equal(typeof globalServer.attributes['authmesh.data_age_ms'], 'number');
    assert.equal(typeof good.attributes['authmesh.data_age_ms'], 'number');
    const gatewayServer = failover.spans.find((s) => s.service === 'authmesh-gateway-eastus' && s.kind === SERVER);
    assert.ok(gatewayServer !== undefined, 'the gateway server span is in the trace');
    for (const a of attempts) assert.equal(a.parentSpanId, gatewayServer.spanId, 'attempts are children of the gateway call');
  });

  it('moves the gateway attempt and failover counts when regional-eastus is killed', async () => {
    const afterText = await scrape(gatewayMetrics);
    const answered = (text: string, domain: string): number => sample(text, 'authmesh_gateway_attempts_total', { fault_domain: domain, outcome: 'answered' });
    const movedOn = (text: string): number => sample(text, 'authmesh_gateway_failovers_total', { fault_domain: 'regional/eastus' });
    console.log(`      global answered ${answered(beforeText, 'global')} → ${answered(afterText, 'global')}; failovers from regional/eastus ${movedOn(beforeText)} → ${movedOn(afterText)}`);
    assert.ok(answered(beforeText, 'regional/eastus') >= 1);
    assert.ok(answered(afterText, 'global') > answered(beforeText, 'global'));
    assert.ok(movedOn(afterText) > movedOn(beforeText));
    assert.equal(sample(afterText, 'authmesh_gateway_breaker_state', { fault_domain: 'global', state: 'closed' }), 1);
    assert.equal(sample(afterText, 'authmesh_gateway_breaker_state', { fault_domain: 'global', state: 'open' }), 0);
    assert.match(afterText, /^authmesh_gateway_attempt_duration_seconds_bucket\{/m);
  });
});
