import assert from 'node:assert/strict';
import { logLatency, parseH2loadLog, percentile } from '../../../bench/h2load-log.js';

describe('bench h2load log', () => {
  // As nghttp2 1.52 writes it: start µs since the epoch, HTTP status (-1 for a failed stream), µs to the end of the response.
  const log = ['1733300000000100\t200\t1500', '1733300000000050\t200\t900', '1733300000001000\t-1\t30000', '1733300000002000\t503\t700', ''].join('\n');

  it('reads start, status and duration of every line, failed streams included', () => {
    assert.deepEqual(parseH2loadLog(log), [
      { startUs: 1733300000000100, status: 200, durationUs: 1500 },
      { startUs: 1733300000000050, status: 200, durationUs: 900 },
      { startUs: 1733300000001000, status: -1, durationUs: 30000 },
      { startUs: 1733300000002000, status: 503, durationUs: 700 },
    ]);
  });

  it('leaves out the calls started before the measured window', () => {
    assert.deepEqual(parseH2loadLog(log, 1733300000000100).map((e) => e.startUs), [1733300000000100, 1733300000001000, 1733300000002000]);
  });

  it('refuses a line that is not three numeric columns', () => {
    assert.throws(() => parseH2loadLog('1733300000000100\t200\n'), /columns/);
    assert.throws(() => parseH2loadLog('x\t200\t5\n'), /not numeric/);
  });

  it('takes the nearest-rank percentile', () => {
    const v = Array.from({ length: 1000 }, (_, i) => i + 1);
    assert.equal(percentile(v, 50), 500);
    assert.equal(percentile(v, 99), 990);
    assert.equal(percentile(v, 99.9), 999);
    assert.equal(percentile(v, 100), 1000);
    assert.equal(percentile([7], 99), 7);
    // 99.9 % of 41,000 is 40,959 exactly, though not in floating point.
    assert.equal(percentile(Array.from({ length: 41_000 }, (_, i) => i + 1), 99.9), 40_959);
    assert.ok(Number.isNaN(percentile([], 50)));
  });

  it('sums up the calls in ms and counts every answer but HTTP 200 as failed', () => {
    const entries = parseH2loadLog(log);
    assert.deepEqual(logLatency(entries), { calls: 4, failed: 2, p50: 0.9, p99: 30, p999: 30, max: 30 });
    // Out-of-order lines (several h2load threads) are sorted before taking percentiles.
    const many = Array.from({ length: 200 }, (_, i) => ({ startUs: i, status: 200, durationUs: (200 - i) * 1000 }));
    const l = logLatency(many);
    assert.equal(l.p50, 100);
    assert.equal(l.p99, 198);
    assert.equal(l.max, 200);
  });
});
