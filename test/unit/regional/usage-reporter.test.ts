import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ReportUsageRequest } from '../../../gen/authmesh/directory/v1/directory.js';
import { ManualClock } from '../../../lib/clock/index.js';
import { MAX_REQUEST_BYTES } from '../../../lib/grpc/index.js';
import { UsageReporter } from '../../../services/regional/usage-reporter.js';
import { FakeDirectory } from '../../support/fake-directory.js';

describe('UsageReporter', () => {
  it('sends one entry per identity with its newest authentication time', async () => {
    const clock = new ManualClock(1_000_000);
    const global = new FakeDirectory();
    const usage = new UsageReporter({ source: global, region: 'eastus', clock });
    usage.record('t1', 'a');
    clock.advance(10);
    usage.record('t1', 'a');
    usage.record('t1', 'b');
    const flush = await usage.flush();
    assert.equal(flush.sent, 2);
    assert.equal(global.calls.reportUsage.length, 1);
    const request = global.calls.reportUsage[0]!;
    assert.equal(request.region, 'eastus');
    assert.deepEqual(request.entries.find((e) => e.clientId === 'a')?.authenticatedAtMs, 1_000_010);
    assert.equal(usage.size, 0);
  });

  it('keeps entries for the next flush while global is unreachable', async () => {
    const clock = new ManualClock(1_000_000);
    const global = new FakeDirectory();
    const usage = new UsageReporter({ source: global, region: 'eastus', clock });
    usage.record('t1', 'a');
    global.reachable = false;
    const failed = await usage.flush();
    assert.deepEqual({ sent: failed.sent, kept: failed.kept }, { sent: 0, kept: 1 });
    assert.equal(usage.size, 1);
    global.reachable = true;
    const ok = await usage.flush();
    assert.equal(ok.sent, 1);
  });

  it('splits large reports into batches', async () => {
    const global = new FakeDirectory();
    const usage = new UsageReporter({ source: global, region: 'eastus', clock: new ManualClock(), batchSize: 10 });
    for (let i = 0; i < 25; i += 1) usage.record('t1', `c${i}`);
    await usage.flush();
    assert.deepEqual(global.calls.reportUsage.map((r) => r.entries.length), [10, 10, 5]);
  });

  it('keeps every report within the request size global accepts', async () => {
    const global = new FakeDirectory();
    const usage = new UsageReporter({ source: global, region: 'eastus', clock: new ManualClock(1_800_000_000_000) });
    const tenantId = randomUUID();
    for (let i = 0; i < 3000; i += 1) usage.record(tenantId, randomUUID());
    const flush = await usage.flush();
    assert.equal(flush.sent, 3000);
    assert.ok(global.calls.reportUsage.length > 3, `${global.calls.reportUsage.length} calls`);
    for (const request of global.calls.reportUsage) assert.ok(ReportUsageRequest.encode(request).finish().length <= MAX_REQUEST_BYTES);
    assert.equal(new Set(global.calls.reportUsage.flatMap((r) => r.entries.map((e) => e.clientId))).size, 3000);
  });

  it('splits by encoded size as well as by count', async () => {
    const global = new FakeDirectory();
    const usage = new UsageReporter({ source: global, region: 'eastus', clock: new ManualClock(), batchBytes: 100 });
    for (let i = 0; i < 10; i += 1) usage.record('t1', `client-${i}`.padEnd(40, 'x'));
    await usage.flush();
    assert.ok(global.calls.reportUsage.every((r) => r.entries.length === 1 || r.entries.length === 2));
    assert.equal(global.calls.reportUsage.reduce((n, r) => n + r.entries.length, 0), 10);
  });

  it('drops new identities once the pending set is full rather than growing without bound', () => {
    const usage = new UsageReporter({ source: new FakeDirectory(), region: 'eastus', clock: new ManualClock(), maxPending: 3 });
    for (let i = 0; i < 5; i += 1) usage.record('t1', `c${i}`);
    assert.equal(usage.size, 3);
    assert.equal(usage.droppedCount, 2);
  });

  it('reports an identity again only once its uses are the precision newer than what it reported', async () => {
    const clock = new ManualClock(1_000_000);
    const global = new FakeDirectory();
    const usage = new UsageReporter({ source: global, region: 'eastus', clock, precisionMs: 60_000 });
    usage.record('t1', 'a');
    assert.equal((await usage.flush()).sent, 1);
    clock.advance(30_000);
    usage.record('t1', 'a');
    usage.record('t1', 'b');
    assert.equal(usage.size, 1, 'a was reported 30 s ago; only the new identity waits');
    await usage.flush();
    assert.deepEqual(global.calls.reportUsage[1]!.entries.map((e) => e.clientId), ['b']);
    clock.advance(30_000);
    usage.record('t1', 'a');
    assert.equal(usage.size, 1, 'a is due again 60 s after the use it reported');
    await usage.flush();
    assert.deepEqual(global.calls.reportUsage[2]!.entries.map((e) => [e.clientId, e.authenticatedAtMs]), [['a', 1_060_000]]);
  });

  it('reports again what global did not take, and every use with a precision of 0', async () => {
    const clock = new ManualClock(1_000_000);
    const global = new FakeDirectory();
    const usage = new UsageReporter({ source: global, region: 'eastus', clock });
    global.reachable = false;
    usage.record('t1', 'a');
    await usage.flush();
    global.reachable = true;
    clock.advance(1000);
    usage.record('t1', 'a');
    assert.equal((await usage.flush()).sent, 1, 'a failed report does not count as reported');
    const every = new UsageReporter({ source: global, region: 'eastus', clock, precisionMs: 0 });
    every.record('t1', 'a');
    await every.flush();
    clock.advance(1);
    every.record('t1', 'a');
    assert.equal((await every.flush()).sent, 1);
    assert.throws(() => new UsageReporter({ source: global, region: 'eastus', clock, precisionMs: -1 }), /precisionMs/);
  });
});
