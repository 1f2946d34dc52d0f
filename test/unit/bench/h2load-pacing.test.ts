import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { evenPacing, h2loadArgs, requireH2load, runH2load, type H2loadShape } from '../../../bench/h2load.js';
import { percentile } from '../../../bench/h2load-log.js';

/** Gaps between consecutive call starts, ms, ascending. */
function startGaps(startsUs: number[]): number[] {
  const s = [...startsUs].sort((a, b) => a - b);
  return s.slice(1).map((v, i) => (v - s[i]!) / 1000).sort((a, b) => a - b);
}

describe('bench h2load open-loop pacing', function () {
  this.timeout(30_000);
  let server: http2.Http2Server;
  let url = '';

  before(async () => {
    // Answers every stream at once: what is measured is when h2load sends, not the server.
    server = http2.createServer();
    server.on('stream', (stream) => {
      stream.on('data', () => undefined);
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(Buffer.from([0, 0, 0, 0, 0]));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/authmesh.bench.v1.Echo/Echo`;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('splits a rate over connections that each send one call per tick of at least 10 ms, opened 1 / rate apart', () => {
    assert.deepEqual(evenPacing(1000), { connections: 10, perConnection: 100, periodMs: 1 });
    assert.deepEqual(evenPacing(200), { connections: 2, perConnection: 100, periodMs: 5 });
    assert.deepEqual(evenPacing(50), { connections: 1, perConnection: 50, periodMs: 20 });
    assert.throws(() => evenPacing(1050), /does not split evenly/);
    assert.throws(() => evenPacing(0), /whole positive rate/);
    const args = h2loadArgs({ url, body: Buffer.alloc(0), headers: {} }, { inFlight: 64, connections: 2, durationS: 8, warmupS: 2, rate: 1000, pacing: 'even' }, '/dev/null');
    assert.deepEqual(args.slice(0, 15), ['-n', '10000', '-d', '/dev/null', '-c', '10', '-m', '32', '-t', '1', '-r', '1', '--rate-period', '1ms', '--rps']);
    assert.equal(args[15], '100');
  });

  it('evenly paced, calls leave about 1 / rate apart, where the default pacing sends them in bursts', async () => {
    const bin = requireH2load();
    const shape: H2loadShape = { inFlight: 64, connections: 2, durationS: 2, warmupS: 1, rate: 1000, log: true };
    const even = await runH2load(bin, { url, body: Buffer.from([0, 0, 0, 0, 0]), headers: { 'content-type': 'application/grpc', te: 'trailers' } }, { ...shape, pacing: 'even' });
    const bursts = await runH2load(bin, { url, body: Buffer.from([0, 0, 0, 0, 0]), headers: { 'content-type': 'application/grpc', te: 'trailers' } }, { ...shape, pacing: 'bursts' });
    const evenGaps = startGaps(even.calls!.map((c) => c.startUs));
    const burstGaps = startGaps(bursts.calls!.map((c) => c.startUs));
    const gaps = (g: number[]): string => [25, 50, 75].map((p) => `p${p} ${percentile(g, p).toFixed(3)}`).join(' ');
    console.log(`      gaps between call starts: even ${gaps(evenGaps)} ms (${even.calls!.length} calls); bursts ${gaps(burstGaps)} ms (${bursts.calls!.length} calls)`);
    // About 2,000 calls in each 2 s window, the warm-up's left out.
    for (const r of [even, bursts]) assert.ok(r.calls!.length >= 1800 && r.calls!.length <= 2200, `${r.calls!.length} calls in the window`);
    assert.ok(even.calls!.every((c) => c.status === 200));
    // About one call a millisecond: most gaps near 1 ms, though h2load's timers drift into pairs
    // and triples when its loop runs late (a fifth of the gaps on a quiet machine, up to half on
    // a loaded one), so the quartile above the median is what tells. In bursts of 5 every 10 ms
    // per connection, 4 of every 5 gaps are the few µs between the calls of a burst.
    assert.ok(percentile(evenGaps, 75) >= 0.5, `evenly paced calls left together: p75 gap ${percentile(evenGaps, 75)} ms`);
    assert.ok(percentile(burstGaps, 75) < 0.1, `the default pacing did not send bursts: p75 gap ${percentile(burstGaps, 75)} ms`);
  });
});
