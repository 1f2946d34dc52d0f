import assert from 'node:assert/strict';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../../lib/telemetry/index.js';
import { freePort } from '../support/free-port.js';
import { TestMesh, acquire, type TestWorkload } from '../support/mesh-harness.js';
import { sleep } from '../support/spawn-service.js';

const SERVER = 2;
const CLIENT = 3;
const TRANSPORTS = ['relay', 'grpc-js'] as const;
type Transport = (typeof TRANSPORTS)[number];

/**
 * Real processes sending spans to a real OTLP/HTTP receiver on 127.0.0.1: global, regional-eastus
 * and one gateway per transport in front of it, each configured through the standard OTEL_*
 * variables only, as a pod in a cluster is.
 */
describe('tracing in a cluster (system)', function () {
  this.timeout(90_000);
  let receiver: OtlpReceiver;
  let mesh: TestMesh;
  let workload: TestWorkload;
  const gateway = (t: Transport): string => `gateway-${t.replace('-', '')}`;
  /** The CLIENT span of a gateway's call to regional-eastus and the SERVER span it led to, per transport. */
  const calls = new Map<Transport, { client: ReceivedSpan; server: ReceivedSpan | undefined }>();

  before(async () => {
    receiver = await startOtlpReceiver({ listen: '127.0.0.1:0', maxTraces: 5000 });
    // Nothing listens there: the grpc-js gateway's spans arrive only if the traces endpoint wins.
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    mesh = new TestMesh();
    const otel = { OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '100' };
    mesh.env = otel;
    await mesh.startGlobal();
    workload = await mesh.addWorkload('cluster-traced');
    mesh.env = { ...otel, OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=regional-eastus-0,k8s.namespace.name=authmesh-test' };
    await mesh.startRegional('eastus');
    mesh.env = otel;
    const env: Record<Transport, Record<string, string>> = {
      relay: { OTEL_SERVICE_NAME: 'edge-relay', OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=gateway-relay-7f9c,k8s.namespace.name=authmesh-test,service.name=overridden' },
      'grpc-js': { OTEL_RESOURCE_ATTRIBUTES: 'service.name=edge-grpcjs', OTEL_EXPORTER_OTLP_ENDPOINT: nowhere, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.endpoint}/v1/traces` },
    };
    for (const t of TRANSPORTS) {
      await mesh.start(
        gateway(t),
        'gateway/main.js',
        (port) => ['--region', 'eastus', '--listen', `127.0.0.1:${port}`, '--regional', mesh.address('regional-eastus'), '--global', mesh.globalList(), '--transport', t],
        env[t],
      );
      const answer = await acquire(mesh.tokenClient(gateway(t)), workload);
      assert.equal(answer.response?.faultDomain, 'regional/eastus', answer.error?.details);
    }
    const regional = mesh.address('regional-eastus');
    const until = Date.now() + 20_000;
    while (Date.now() < until) {
      const spans = receiver.spans();
      for (const t of TRANSPORTS) {
        const client = spans.find((s) => s.kind === CLIENT && s.resource['process.pid'] === mesh.procs.get(gateway(t))!.pid && `${String(s.attributes['server.address'])}:${String(s.attributes['server.port'])}` === regional);
        if (client === undefined) continue;
        const server = spans.find((s) => s.kind === SERVER && s.parentSpanId === client.spanId);
        calls.set(t, { client, server });
      }
      if (TRANSPORTS.every((t) => calls.get(t)?.server !== undefined)) break;
      await sleep(200);
    }
  });

  after(async () => {
    await mesh?.stop();
    await receiver?.close();
  });

  for (const t of TRANSPORTS) {
    it(`records a CLIENT span with server.address and server.port for a call to the domain over ${t}`, () => {
      const call = calls.get(t);
      assert.ok(call !== undefined, `no CLIENT span to regional-eastus from the ${t} gateway among ${receiver.spans().length} spans`);
      const [host, port] = mesh.address('regional-eastus').split(':');
      assert.equal(call.client.attributes['server.address'], host);
      assert.equal(call.client.attributes['server.port'], Number(port));
      assert.equal(call.client.attributes['rpc.system'], 'grpc');
      assert.equal(call.client.attributes['rpc.service'], 'authmesh.token.v1.TokenService');
      assert.equal(call.client.attributes['rpc.method'], 'AcquireToken');
    });

    it(`makes the domain's SERVER span a child of the gateway's CLIENT span over ${t}, once`, () => {
      const call = calls.get(t);
      assert.ok(call?.server !== undefined, `no SERVER span in regional-eastus under the ${t} gateway's CLIENT span`);
      assert.equal(call.server.service, 'authmesh-regional-eastus');
      assert.equal(call.server.traceId, call.client.traceId);
      const pid = mesh.procs.get(gateway(t))!.pid;
      const inTrace = receiver.spans().filter((s) => s.traceId === call.client.traceId && s.kind === CLIENT && s.resource['process.pid'] === pid);
      assert.equal(inTrace.length, 1, `CLIENT spans of the ${t} gateway in the trace: ${inTrace.map((s) => s.name).join(', ')}`);
    });
  }

  it('takes service.name from OTEL_SERVICE_NAME and attributes from OTEL_RESOURCE_ATTRIBUTES', () => {
    const span = calls.get('relay')?.client;
    assert.ok(span !== undefined);
    assert.equal(span.service, 'edge-relay', 'OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES');
    assert.equal(span.resource['k8s.pod.name'], 'gateway-relay-7f9c');
    assert.equal(span.resource['k8s.namespace.name'], 'authmesh-test');
    assert.equal(typeof span.resource['host.name'], 'string', 'the host detector ran');
    assert.equal(span.resource['process.runtime.name'], 'nodejs', 'the process detector ran');
    assert.equal(span.resource['process.command_args'], undefined, 'flags stay out of the resource');
  });

  it('takes service.name from OTEL_RESOURCE_ATTRIBUTES when OTEL_SERVICE_NAME is unset', () => {
    assert.equal(calls.get('grpc-js')?.client.service, 'edge-grpcjs');
  });

  it("keeps the service's own service.name beside OTEL_RESOURCE_ATTRIBUTES without a service.name", () => {
    const server = calls.get('grpc-js')?.server;
    assert.ok(server !== undefined);
    assert.equal(server.service, 'authmesh-regional-eastus');
    assert.equal(server.resource['k8s.pod.name'], 'regional-eastus-0');
  });

  it('sends spans to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT over OTEL_EXPORTER_OTLP_ENDPOINT', () => {
    const span = calls.get('grpc-js')?.client;
    assert.ok(span !== undefined, 'no span of the gateway whose OTEL_EXPORTER_OTLP_ENDPOINT leads nowhere');
    assert.equal(span.service, 'edge-grpcjs');
  });
});
