import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import { startGlobalProcess, type GlobalProcess } from '../integration/regional/global-process.js';
import { eventually, startRegional, type RegionalProcess, type TokenAnswer } from '../integration/regional/regional-harness.js';
import { startTcpProxy, type TcpProxy } from '../integration/regional/tcp-proxy.js';

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

const countLines = (regional: RegionalProcess, pattern: RegExp): number => regional.proc.output.filter((l) => pattern.test(l)).length;

describe('regional isolation with real processes', function () {
  this.timeout(60_000);
  let global: GlobalProcess;
  let regional: RegionalProcess | undefined;
  let proxy: TcpProxy | undefined;
  let dataDir: string;

  const startEastus = async (globalAddress: string): Promise<RegionalProcess> => {
    const r = await startRegional('regional-eastus', [
      '--region', 'eastus', '--global', globalAddress, '--mesh-token-file', global.memberTokenFile('regional-eastus'), '--data-dir', dataDir, '--log-level', 'debug',
    ]);
    await eventually(async () => (await r.health()) === 'SERVING', 15_000, 50);
    return r;
  };
  const ask = (r: RegionalProcess, app: { clientId: string; secret: string }, timeoutMs = 2000): Promise<TokenAnswer> =>
    r.acquire({ tenantId: global.tenantId, clientId: app.clientId, scope: `${global.resource}/.default`, clientSecret: app.secret }, timeoutMs);
  const refused = (a: TokenAnswer): boolean => !a.ok && a.code === status.PERMISSION_DENIED;

  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'regional-sys-'));
    global = await startGlobalProcess(['--watch-heartbeat', '500ms']);
  });
  afterEach(async () => {
    await regional?.stop();
    await proxy?.close();
    await global.stop();
    regional = undefined;
    proxy = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps issuing to a cached identity while global is stopped with SIGSTOP', async () => {
    const app = await global.seedApp('payments');
    regional = await startEastus(global.address);
    assert.ok((await ask(regional, app)).ok);
    global.proc.kill('SIGSTOP');
    try {
      const latencies: number[] = [];
      const failures: TokenAnswer[] = [];
      const until = Date.now() + 3000;
      while (Date.now() < until) {
        const started = Date.now();
        const answer = await ask(regional, app, 1000);
        latencies.push(Date.now() - started);
        if (!answer.ok || answer.response.faultDomain !== 'regional/eastus') failures.push(answer);
      }
      console.log(`      global SIGSTOPped: ${latencies.length} tokens from regional/eastus, ${failures.length} failed, p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms`);
      assert.equal(failures.length, 0, JSON.stringify(failures.slice(0, 3)));
      assert.ok(latencies.length > 10);
    } finally {
      global.proc.kill('SIGCONT');
    }
  });

  it('refuses an app at regional once global has disabled it, within the propagation bound', async () => {
    const app = await global.seedApp('payments');
    regional = await startEastus(global.address);
    assert.ok((await ask(regional, app)).ok);
    await global.admin('setAppEnabled', { tenantId: global.tenantId, clientId: app.clientId, enabled: false });
    const acknowledged = Date.now();
    await eventually(async () => refused(await ask(regional!, app)), 5000, 2);
    const ms = Date.now() - acknowledged;
    console.log(`      disable propagated to regional/eastus ${ms} ms after the admin call returned`);
    // The figure is printed; the bound is the design's "seconds for regional", generous on a busy machine.
    assert.ok(ms < 5000, `took ${ms} ms`);
  });

  it('applies a change made while disconnected after reconnecting, and reloads a snapshot when the log was compacted', async () => {
    const first = await global.seedApp('payments');
    const second = await global.seedApp('billing');
    proxy = await startTcpProxy(global.address);
    regional = await startEastus(proxy.address);
    assert.ok((await ask(regional, first)).ok);
    assert.ok((await ask(regional, second)).ok);

    // Resume from revision: the change log still holds the change.
    proxy.cut();
    await eventually(() => countLines(regional!, /"event":"watch-ended"/) >= 1, 10_000);
    await global.admin('setAppEnabled', { tenantId: global.tenantId, clientId: first.clientId, enabled: false });
    assert.ok((await ask(regional, first)).ok, 'while cut off, regional serves what it has');
    const cutStarts = countLines(regional, /"event":"watch-started"/);
    proxy.restore();
    const resumedMs = await eventually(async () => refused(await ask(regional!, first)), 20_000, 20);
    const resumes = regional.proc.output.filter((l) => /"event":"watch-started"/.test(l)).slice(cutStarts);
    const from = resumes.map((l) => Number(/"fromRevision":(\d+)/.exec(l)?.[1]));
    console.log(`      change made while disconnected applied ${resumedMs} ms after the link was restored; watch resumed from revision ${from.join(', ')}`);
    assert.ok(from.length > 0 && from.every((r) => r > 0), 'resumed from a revision, not from scratch');
    assert.equal(countLines(regional, /"reason":"compacted"/), 0, 'no snapshot reload while the log still had the change');

    // Compacted log: the watch cannot resume, so regional reloads a snapshot.
    proxy.cut();
    await eventually(() => countLines(regional!, /"event":"watch-ended"/) >= 2, 10_000);
    await global.admin('setAppEnabled', { tenantId: global.tenantId, clientId: second.clientId, enabled: false });
    await global.admin('compactChangeLog', { retain: 0 });
    proxy.restore();
    const reloadMs = await eventually(async () => refused(await ask(regional!, second)), 20_000, 20);
    console.log(`      compacted log: snapshot reloaded and change applied ${reloadMs} ms after the link was restored`);
    assert.ok(countLines(regional, /"event":"log-compacted"/) >= 1);
    assert.ok(countLines(regional, /"reason":"compacted"/) >= 1);
    assert.ok(refused(await ask(regional, first)), 'the earlier disable survives the reload');
  });

  it('serves a new identity after one fill, and answers cache-miss-unfillable for an uncached one with global down', async () => {
    regional = await startEastus(global.address);
    const fresh = await global.seedApp('fresh');
    const uncached = await global.seedApp('never-asked');
    const marker = await global.seedApp('marker');
    const fillsBefore = countLines(regional, /"event":"cache-fill"/);
    const answers = await Promise.all(Array.from({ length: 10 }, () => ask(regional!, fresh)));
    assert.ok(answers.every((a) => a.ok && a.response.faultDomain === 'regional/eastus'), JSON.stringify(answers.find((a) => !a.ok)));
    // A marker identity asked after every answer came back: once its fill is logged, any second
    // fill for `fresh` (finished before its answer) has been logged too.
    assert.ok((await ask(regional, marker)).ok);
    await eventually(async () => countLines(regional!, /"event":"cache-fill"/) - fillsBefore >= 2, 5000, 20);
    const fills = countLines(regional, /"event":"cache-fill"/) - fillsBefore - 1;
    console.log(`      10 concurrent first requests for a new identity: ${fills} fill from global`);
    assert.equal(fills, 1);

    await global.proc.stop();
    assert.ok((await ask(regional, fresh)).ok, 'the filled identity keeps being served with global down');
    const miss = await ask(regional, uncached);
    assert.ok(!miss.ok && miss.code === status.UNAVAILABLE && miss.reason === 'cache-miss-unfillable', JSON.stringify(miss));
    console.log(`      uncached identity with global down: ${status[miss.code]} authmesh-reason=${miss.reason} "${miss.details}"`);
  });
});
