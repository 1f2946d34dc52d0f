import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { h2loadPath } from '../../bench/h2load.js';
import { DIST } from '../support/spawn-service.js';

describe('bench (smoke)', function () {
  this.timeout(180_000);

  it('writes every section of the results with no failed call on the healthy paths', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-bench-'));
    try {
      await new Promise<void>((resolve, reject) => {
        execFile(process.execPath, [path.join(DIST, 'bench', 'main.js'), '--smoke', '--results', dir], { timeout: 170_000, maxBuffer: 1 << 24 }, (err, _out, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(),
        );
      });
      const report = JSON.parse(fs.readFileSync(path.join(dir, 'latest.json'), 'utf8')) as Record<string, unknown> & {
        scenarios: { name: string; failed: number; throughput: { median: number } }[];
        anchors: { name: string; failed: number }[];
        openLoopAnchors: { description: string; ok: number; failed: number }[];
        openLoop: { rate: number; runs: number; ok: number; failed: number; p50: number; p99: number; max: number }[];
        openLoopAfterLoad: { rate: number; runs: number; ok: number; failed: number; p50: number; p99: number; max: number }[];
        h2load: { name: string; failed: number; sample: string; rps: { median: number }; cpuUsPerCall: Record<string, number> }[];
        h2loadOpenLoop: { name: string; rate: number; pacing: string; failed: number; sample: string; worstP99: number; runs: { calls: number; p50: number; p99: number; max: number }[] }[];
      };
      for (const key of ['machine', 'crypto', 'anchors', 'h2load', 'scenarios', 'curve', 'openLoop', 'openLoopAfterLoad', 'openLoopAnchors', 'faults', 'revocation', 'scale', 'ratios', 'targets']) assert.ok(key in report, key);
      assert.deepEqual(report.openLoopAnchors.map((a) => [a.description, a.failed]), [['grpc-js echo, one hop', 0], ['grpc-js echo, two hops (proxy)', 0]]);
      for (const a of report.openLoopAnchors) assert.ok(a.ok > 0, `${a.description} answered no call`);
      assert.equal(report.openLoopAfterLoad.length, 1);
      for (const o of [...report.openLoop, ...report.openLoopAfterLoad]) {
        assert.ok(o.runs >= 1 && o.ok > 0 && o.failed === 0, `open loop at ${o.rate}/s: ${JSON.stringify(o)}`);
        // Latencies were measured from real answers: positive, and ordered as percentiles are.
        assert.ok(o.p50 > 0 && o.p50 <= o.p99 && o.p99 <= o.max, `open loop at ${o.rate}/s: percentiles not measured: ${JSON.stringify(o)}`);
      }
      assert.deepEqual(report.scenarios.map((s) => s.name), ['gateway-regional', 'regional', 'global', 'backup', 'gateway-cold']);
      for (const s of [...report.scenarios, ...report.anchors]) assert.equal(s.failed, 0, `${s.name} had failed calls`);
      if (h2loadPath() === undefined) console.log('      h2load section not checked: h2load is missing (apt-get install -y nghttp2-client)');
      else {
        assert.deepEqual(report.h2load.map((h) => h.name), ['echo', 'verify-sign', 'gateway-assertion', 'gateway-secret', 'oidc-client_secret_post', 'https-front-secret']);
        for (const h of report.h2load) {
          assert.equal(h.failed, 0, `h2load ${h.name} had failed calls`);
          assert.ok(h.rps.median > 0, `h2load ${h.name} answered no call`);
          if (h.name !== 'oidc-client_secret_post' && h.name !== 'https-front-secret') assert.equal(h.sample, 'grpc-status 0', h.name);
        }
        assert.ok(report.h2load.find((h) => h.name === 'gateway-assertion')!.cpuUsPerCall.gateway! > 0);
        assert.deepEqual(report.h2loadOpenLoop.map((o) => [o.name, o.pacing, o.failed, o.sample]), [
          ['echo', 'even', 0, 'grpc-status 0'], ['gateway-assertion', 'even', 0, 'grpc-status 0'],
          ['echo', 'bursts', 0, 'grpc-status 0'], ['gateway-assertion', 'bursts', 0, 'grpc-status 0'],
        ]);
        for (const o of report.h2loadOpenLoop) {
          // One second at 200/s from h2load's per-call log: about 200 calls, percentiles ordered.
          for (const x of o.runs) assert.ok(x.calls >= 150 && x.calls <= 250 && x.p50 > 0 && x.p50 <= x.p99 && x.p99 <= x.max, `h2load open loop ${o.name}: ${JSON.stringify(x)}`);
          assert.equal(o.worstP99, Math.max(...o.runs.map((x) => x.p99)));
        }
      }
      assert.ok(fs.existsSync(path.join(dir, 'latency-percentiles.svg')));
      assert.ok(fs.existsSync(path.join(dir, 'throughput-vs-load.svg')));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
