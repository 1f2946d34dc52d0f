import assert from 'node:assert/strict';
import { startOtlpReceiver, type OtlpReceiver } from '../../lib/telemetry/index.js';
import { TestMesh, acquire, type TestWorkload } from '../support/mesh-harness.js';

async function startMesh(env: Record<string, string>): Promise<{ mesh: TestMesh; workload: TestWorkload }> {
  const mesh = new TestMesh();
  mesh.env = env;
  await mesh.startGlobal();
  const workload = await mesh.addWorkload('overhead-worker');
  await mesh.startRegional('eastus');
  await mesh.startGateway('eastus');
  return { mesh, workload };
}

const stats = (xs: number[]): { mean: number; p50: number; p99: number } => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
  return { mean: s.reduce((a, b) => a + b, 0) / s.length, p50: at(0.5), p99: at(0.99) };
};

/**
 * Cost of tracing on a token request through gateway → regional on 127.0.0.1: two meshes, one with
 * the SDK exporting to a local OTLP receiver and one with OTEL_SDK_DISABLED=true, measured in
 * alternating rounds of sequential calls. The figure is printed, not asserted.
 */
describe('tracing overhead on a token request (system)', function () {
  this.timeout(120_000);
  let receiver: OtlpReceiver;
  let on: { mesh: TestMesh; workload: TestWorkload };
  let off: { mesh: TestMesh; workload: TestWorkload };

  before(async () => {
    receiver = await startOtlpReceiver({ listen: '127.0.0.1:0', maxTraces: 100 });
    on = await startMesh({ OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint });
    off = await startMesh({ OTEL_SDK_DISABLED: 'true' });
  });

  after(async () => {
    await Promise.all([on?.mesh.stop(), off?.mesh.stop()]);
    await receiver?.close();
  });

  it('prints the added latency per call when tracing is on versus off', async () => {
    const clients = { on: on.mesh.tokenClient('gateway-eastus'), off: off.mesh.tokenClient('gateway-eastus') };
    const samples: Record<'on' | 'off', number[]> = { on: [], off: [] };
    const round = async (which: 'on' | 'off', n: number, keep: boolean): Promise<void> => {
      const w = which === 'on' ? on.workload : off.workload;
      for (let i = 0; i < n; i += 1) {
        const out = await acquire(clients[which], w);
        assert.equal(out.response?.faultDomain, 'regional/eastus', out.error?.details);
        if (keep) samples[which].push(out.ms);
      }
    };
    await round('on', 100, false);
    await round('off', 100, false);
    for (let r = 0; r < 8; r += 1) {
      await round('on', 100, true);
      await round('off', 100, true);
    }
    const a = stats(samples.on);
    const b = stats(samples.off);
    const f = (x: number): string => x.toFixed(3);
    console.log(`      tracing on : mean ${f(a.mean)} ms  p50 ${f(a.p50)} ms  p99 ${f(a.p99)} ms  (${samples.on.length} calls)`);
    console.log(`      tracing off: mean ${f(b.mean)} ms  p50 ${f(b.p50)} ms  p99 ${f(b.p99)} ms  (${samples.off.length} calls)`);
    console.log(`      overhead   : mean +${f(a.mean - b.mean)} ms (${(((a.mean - b.mean) / b.mean) * 100).toFixed(1)}%), p50 +${f(a.p50 - b.p50)} ms`);
    assert.ok(receiver.spans().length > 0, 'the traced mesh exported spans');
  });
});
