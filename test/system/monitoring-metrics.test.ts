import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { initBackup } from '../../cli/backup-commands.js';
import { certificateExpirySeconds } from '../../lib/telemetry/expiry-metrics.js';
import { buildAssertion } from '../../lib/token/index.js';
import { Agent, fetch as undiciFetch } from 'undici';
import { backupMemberToken, meshBackupFiles, startBackupProcess } from '../support/backup-process.js';
import { freePort } from '../support/free-port.js';
import { acquire, onceAtCall, RESOURCE, runLoad, TestMesh, type TestWorkload } from '../support/mesh-harness.js';
import { metricsUrl, sample, scrape } from '../support/metrics-scrape.js';
import { dashboardExprs, loadRules, metricNamesOf } from '../support/monitoring-files.js';
import { sleep } from '../support/spawn-service.js';
import { prometheusBinary, startPrometheus, type MeshPrometheus } from '../../scripts/mesh-prometheus.js';

const PROCESSES = ['global', 'regional-eastus', 'backup', 'gateway-eastus'] as const;
const METRICS = ['--metrics-listen', '127.0.0.1:0'];
const ROTATE_AFTER_MS = 30 * 24 * 3600 * 1000;

/** Names of the samples in a Prometheus text page. */
function sampleNames(text: string): Set<string> {
  return new Set(text.split('\n').flatMap((l) => (l === '' || l.startsWith('#') ? [] : [/^[a-zA-Z_:][\w:]*/.exec(l)?.[0] ?? ''])));
}

/**
 * The whole mesh on real processes with mutual TLS (global, regional-eastus, backup with a loaded
 * snapshot, gateway-eastus with its HTTPS front), every process serving /metrics: token calls at
 * both fronts, then regional-eastus killed and the calls fail over to global.
 */
describe('metrics the alerts and dashboard are built on (system)', function () {
  this.timeout(120_000);
  const mesh = new TestMesh({ meshTls: true });
  let workload: TestWorkload;
  let secret: { clientId: string; secret: string };
  let agent: Agent;
  let tokenUrl = '';
  const urls = new Map<string, string>();
  /** Every page scraped, by process: before and after the failover. */
  const pages = new Map<string, string[]>();
  const gatewayPages: string[] = [];

  const scrapeAll = async (): Promise<void> => {
    for (const [name, url] of urls) {
      const child = mesh.procs.get(name)!.child;
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const page = await scrape(url);
      pages.set(name, [...(pages.get(name) ?? []), page]);
    }
  };
  const postToken = async (clientSecret: string): Promise<number> => {
    const res = await undiciFetch(tokenUrl, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: `${RESOURCE}/.default`, client_id: secret.clientId, client_secret: clientSecret }).toString(),
    });
    await res.arrayBuffer();
    return res.status;
  };
  const grpcCalls = async (n: number, w: TestWorkload): Promise<Array<string | undefined>> => {
    const client = mesh.tokenClient('gateway-eastus');
    const out: Array<string | undefined> = [];
    for (let i = 0; i < n; i += 1) {
      const r = await acquire(client, w);
      out.push(r.response?.faultDomain ?? r.trailers?.get('oauth-error')[0]?.toString());
    }
    return out;
  };

  before(async () => {
    const port = await freePort();
    const base = `https://127.0.0.1:${port}`;
    await mesh.startGlobal(['--issuer', base, '--backup-interval', '0', ...METRICS]);
    const files = meshBackupFiles(mesh);
    await initBackup({ dataDir: files.dataDir, global: mesh.address('global'), meshToken: backupMemberToken(mesh), channelCredentials: mesh.credentialsAs('backup') });
    const registered = await mesh.addWorkload('metrics-worker');
    // Assertions name this mesh's issuer (the gateway's HTTPS URL) as their audience.
    const { assertion } = await buildAssertion({ tenantId: registered.tenantId, clientId: registered.clientId, issuer: base, privateKey: registered.privateKey, lifetimeSeconds: 600 });
    workload = { ...registered, assertion };
    const tenantId = workload.tenantId;
    const { clientId } = await mesh.adminCall<{ clientId: string }>((c) => (m, o, cb) => c.createApp({ tenantId, name: 'metrics-secret-worker' }, m, o, cb));
    const added = await mesh.adminCall<{ secret: string }>((c) => (m, o, cb) => c.addSecretCredential({ tenantId, clientId, lifetimeSeconds: 0 }, m, o, cb));
    await mesh.adminCall((c) => (m, o, cb) => c.grantRole({ tenantId, clientId, resource: RESOURCE, role: 'Blob.Read' }, m, o, cb));
    secret = { clientId, secret: added.secret };
    await mesh.adminCall((c) => (m, o, cb) => c.exportBackup({}, m, o, cb));
    await startBackupProcess(mesh, files, METRICS);
    await mesh.startRegional('eastus', ['--issuer', base, ...METRICS]);
    await mesh.startGateway('eastus', [
      '--http-listen', `127.0.0.1:${port}`, '--issuer', base, '--data-dir', path.join(mesh.dir, 'gateway-eastus'),
      '--backup', mesh.address('backup'), '--backup-token-file', files.meshTokenFile, ...METRICS,
    ]);
    for (const name of PROCESSES) urls.set(name, await metricsUrl(mesh.procs.get(name)!));
    agent = new Agent({ connect: { ca: readFileSync(path.join(mesh.dir, 'gateway-eastus', 'tls', 'ca.pem'), 'utf8') } });
    tokenUrl = `${base}/${tenantId}/oauth2/v2.0/token`;

    // The backup has loaded the export once it reports the snapshot's age.
    const until = Date.now() + 20_000;
    while (sample(await scrape(urls.get('backup')!), 'authmesh_backup_snapshot_revision') === 0 && Date.now() < until) await sleep(100);

    const gw = urls.get('gateway-eastus')!;
    gatewayPages.push(await scrape(gw));
    const https = [await postToken(secret.secret), await postToken(secret.secret), await postToken(secret.secret), await postToken('not-the-secret')];
    assert.deepEqual(https, [200, 200, 200, 401]);
    gatewayPages.push(await scrape(gw));
    // A client the region does not hold: a cache miss filled from global, answered invalid_client.
    const unknownClient = randomUUID();
    const stranger: TestWorkload = {
      ...workload,
      clientId: unknownClient,
      assertion: (await buildAssertion({ tenantId, clientId: unknownClient, issuer: base, privateKey: registered.privateKey, lifetimeSeconds: 600 })).assertion,
    };
    assert.deepEqual([...(await grpcCalls(5, workload)), ...(await grpcCalls(1, stranger))], [...Array<string>(5).fill('regional/eastus'), 'invalid_client']);
    gatewayPages.push(await scrape(gw));
    await scrapeAll();

    // Killed under load, so calls in flight on regional-eastus fail over.
    const gwClient = mesh.tokenClient('gateway-eastus');
    const kill = onceAtCall(50, () => void mesh.kill('regional-eastus'));
    const report = await runLoad(() => acquire(gwClient, workload, 5000), { concurrency: 4, durationMs: 3000, maxRequests: 2000, onTick: kill });
    assert.equal(report.failed, 0, report.errors.join('; '));
    assert.ok((report.byDomain.global ?? 0) > 0, 'global answered after the kill');
    await scrapeAll();
  });

  let prometheus: MeshPrometheus | undefined;
  after(async () => {
    if (prometheus !== undefined && prometheus.child.exitCode === null) {
      const exited = new Promise((resolve) => prometheus!.child.once('exit', resolve));
      prometheus.child.kill('SIGTERM');
      await exited;
    }
    await agent?.close();
    await mesh.stop();
  });

  it('scrapes every live process with the alert rules loaded in the Prometheus that make run-mesh starts', async () => {
    const binary = prometheusBinary(process.env.PATH);
    assert.ok(binary !== undefined, 'no prometheus binary: install Debian\'s prometheus package (scripts/test-setup.sh does)');
    const live = PROCESSES.filter((n) => n !== 'regional-eastus');
    prometheus = startPrometheus(binary, path.join(mesh.dir, 'prometheus'), await freePort(), live.map((name) => ({ name, address: new URL(urls.get(name)!).host })));
    const api = async <T>(query: string): Promise<T> => {
      const res = await undiciFetch(`${prometheus!.url}/api/v1/${query}`);
      return ((await res.json()) as { data: T }).data;
    };
    type Targets = { activeTargets: Array<{ labels: { process: string }; health: string }> };
    type Rules = { groups: Array<{ rules: Array<{ type: string; name: string; health: string }> }> };
    type Vector = { result: Array<{ metric: Record<string, string> }> };
    const until = Date.now() + 60_000;
    let up: string[] = [];
    let seen: string[] = [];
    while (Date.now() < until) {
      try {
        up = (await api<Targets>('targets')).activeTargets.filter((t) => t.health === 'up').map((t) => t.labels.process).sort();
        seen = [...new Set((await api<Vector>('query?query=authmesh_build_info')).result.map((r) => r.metric.process ?? ''))].sort();
        if (up.length === live.length && seen.length === live.length) break;
      } catch {
        // Not listening yet.
      }
      await sleep(250);
    }
    assert.deepEqual(up, [...live].sort(), 'targets up');
    assert.deepEqual(seen, [...live].sort(), 'authmesh_build_info scraped from every process');
    const rules = (await api<Rules>('rules')).groups.flatMap((g) => g.rules);
    const alerts = loadRules().flatMap((r) => (r.alert === undefined ? [] : [r.alert]));
    assert.deepEqual(rules.filter((r) => r.type === 'alerting').map((r) => r.name).sort(), [...alerts].sort());
  });

  it('exposes every metric the alert rules and the Grafana dashboard name, on a running mesh after calls and a failover', () => {
    const exposed = new Set([...pages.values()].flat().flatMap((p) => [...sampleNames(p)]));
    const records = new Set(loadRules().flatMap((r) => (r.record === undefined ? [] : [r.record])));
    const named = new Map<string, string>();
    for (const r of loadRules()) for (const n of metricNamesOf(r.expr)) named.set(n, `rule ${r.alert ?? r.record}`);
    for (const e of dashboardExprs()) for (const n of metricNamesOf(e)) named.set(n, `dashboard: ${e}`);
    const missing = [...named].filter(([n]) => !exposed.has(n) && !records.has(n)).map(([n, where]) => `${n} (${where})`);
    assert.deepEqual(missing, [], `named but not exposed by the mesh; exposed: ${[...exposed].sort().join(' ')}`);
    assert.ok(named.size >= 25, `${named.size} names`);
  });

  it('counts token calls at the HTTPS and the gRPC front by method, gRPC code, OAuth error and fault domain', () => {
    const [start, afterHttps, afterGrpc] = gatewayPages as [string, string, string];
    const ok = { method: 'AcquireToken', grpc_code: 'OK', fault_domain: 'regional/eastus' };
    const refused = { method: 'AcquireToken', grpc_code: 'UNAUTHENTICATED', oauth_error: 'invalid_client' };
    const n = (page: string, labels: Record<string, string>): number => sample(page, 'authmesh_gateway_requests_total', labels);
    const timed = (page: string, code: string): number => sample(page, 'authmesh_gateway_request_duration_seconds_count', { method: 'AcquireToken', grpc_code: code });
    assert.equal(n(afterHttps, ok) - n(start, ok), 3, 'HTTPS answers');
    assert.equal(n(afterHttps, refused) - n(start, refused), 1, 'HTTPS invalid_client');
    assert.equal(n(afterGrpc, ok) - n(afterHttps, ok), 5, 'gRPC answers');
    assert.equal(n(afterGrpc, refused) - n(afterHttps, refused), 1, 'gRPC invalid_client');
    assert.equal(timed(afterGrpc, 'OK') - timed(start, 'OK'), 8);
    assert.equal(timed(afterGrpc, 'UNAUTHENTICATED') - timed(start, 'UNAUTHENTICATED'), 2);
    assert.match(afterGrpc, /^authmesh_gateway_request_duration_seconds_bucket\{[^}]*le="0\.0005"/m, 'sub-millisecond buckets');
  });

  it('exposes each breaker as a state set with exactly one state at 1', () => {
    const page = pages.get('gateway-eastus')!.at(-1)!;
    for (const domain of ['regional/eastus', 'global', 'backup']) {
      const states = ['closed', 'half-open', 'open'].map((state) => sample(page, 'authmesh_gateway_breaker_state', { fault_domain: domain, state }));
      assert.deepEqual(states.filter((v) => v === 1).length, 1, `${domain}: ${states.join(',')}`);
      assert.equal(states.reduce((a, b) => a + b, 0), 1, `${domain}: ${states.join(',')}`);
    }
    assert.ok(sample(page, 'authmesh_gateway_failovers_total', { fault_domain: 'regional/eastus' }) >= 1);
  });

  it('serves runtime metrics and authmesh_build_info with the package version on every process', () => {
    const version = (JSON.parse(readFileSync(path.resolve(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
    for (const name of PROCESSES) {
      const page = pages.get(name)![0]!;
      assert.equal(sample(page, 'authmesh_build_info', { version }), 1, `${name}: build info`);
      assert.ok(sample(page, 'v8js_memory_heap_used') > 0, `${name}: heap`);
      assert.match(page, /^nodejs_eventloop_delay_p99(\{[^}]*\})? \S+/m, `${name}: event-loop delay`);
    }
  });

  it('reports each mesh certificate\'s notAfter, the signing keys\' rotation time and the backup\'s staleness bound', () => {
    for (const name of PROCESSES) {
      const expiry = sample(pages.get(name)![0]!, 'authmesh_certificate_expiry_timestamp_seconds', { certificate: 'mesh' });
      assert.equal(expiry, certificateExpirySeconds(mesh.certFiles(name).cert), name);
    }
    const key = path.join(mesh.dir, 'regional-eastus', 'signing-key.pem');
    const due = (Math.floor(statSync(key).mtimeMs) + ROTATE_AFTER_MS) / 1000;
    assert.equal(sample(pages.get('regional-eastus')![0]!, 'authmesh_signing_key_expiry_timestamp_seconds', { fault_domain: 'regional/eastus' }), due);
    assert.equal(sample(pages.get('backup')![0]!, 'authmesh_backup_max_staleness_seconds'), 3600);
    assert.ok(sample(pages.get('backup')![0]!, 'authmesh_backup_snapshot_age_seconds') > 0);
  });
});
