import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { status, Metadata } from '@grpc/grpc-js';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { RequestMetrics, now, oauthErrorOf } from '../../../gateway/front/request-metrics.js';
import { certificateExpiryTelemetry, signingKeyExpiryTelemetry } from '../../../lib/telemetry/expiry-metrics.js';
import { createMeshCa, issueMeshCert } from '../../../lib/tls/index.js';
import { sample } from '../../support/metrics-scrape.js';

/**
 * The metrics as Prometheus scrapes them: a real MeterProvider with the Prometheus exporter the
 * processes use, its text read back sample by sample.
 */
describe('metrics exposition', () => {
  let exporter: PrometheusExporter;
  let provider: MeterProvider;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'authmesh-metrics-'));

  const page = async (): Promise<string> => {
    const { resourceMetrics } = await exporter.collect();
    return new PrometheusSerializer().serialize(resourceMetrics);
  };

  beforeEach(() => {
    metrics.disable();
    exporter = new PrometheusExporter({ preventServerStart: true });
    provider = new MeterProvider({ readers: [exporter] });
    metrics.setGlobalMeterProvider(provider);
  });

  afterEach(async () => {
    metrics.disable();
    await provider.shutdown();
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('counts gateway calls by method, gRPC code name, OAuth error and fault domain, timed in seconds from sub-millisecond buckets', async () => {
    const m = new RequestMetrics();
    const acquire = m.method('AcquireToken');
    assert.equal(m.method('AcquireToken'), acquire, 'one recorder per method');
    const refused = new Metadata();
    refused.set('oauth-error', 'invalid_client');
    acquire.record(now(), status.OK, '', 'regional/eastus');
    acquire.record(now(), status.OK, '', 'regional/eastus');
    acquire.record(now(), status.UNAUTHENTICATED, oauthErrorOf(refused), 'regional/eastus');
    m.method('GetJwks').record(now() - 2000, status.UNAVAILABLE, 'temporarily_unavailable', '');
    const text = await page();
    assert.equal(sample(text, 'authmesh_gateway_requests_total', { method: 'AcquireToken', grpc_code: 'OK', fault_domain: 'regional/eastus', oauth_error: '' }), 2);
    assert.equal(sample(text, 'authmesh_gateway_requests_total', { method: 'AcquireToken', grpc_code: 'UNAUTHENTICATED', oauth_error: 'invalid_client' }), 1);
    assert.equal(sample(text, 'authmesh_gateway_requests_total', { method: 'GetJwks', grpc_code: 'UNAVAILABLE', oauth_error: 'temporarily_unavailable' }), 1);
    assert.equal(sample(text, 'authmesh_gateway_request_duration_seconds_count', { method: 'AcquireToken', grpc_code: 'OK' }), 2);
    assert.equal(sample(text, 'authmesh_gateway_request_duration_seconds_bucket', { method: 'AcquireToken', grpc_code: 'OK', le: '10' }), 2);
    // Two seconds ago, in seconds: above the 1 s bucket, within 2.5 s.
    assert.equal(sample(text, 'authmesh_gateway_request_duration_seconds_bucket', { method: 'GetJwks', le: '1' }), 0);
    assert.equal(sample(text, 'authmesh_gateway_request_duration_seconds_bucket', { method: 'GetJwks', le: '2.5' }), 1);
    assert.match(text, /authmesh_gateway_request_duration_seconds_bucket\{[^}]*le="0.0005"/);
    assert.equal(oauthErrorOf(undefined), '');
  });

  it('reports a certificate\'s notAfter in seconds and follows the certificate renewed on disk', async () => {
    const ca = createMeshCa(path.join(dir, 'ca'));
    const file = path.join(dir, 'mesh.pem');
    const issuedAt = Date.UTC(2030, 0, 1);
    writeFileSync(file, issueMeshCert(ca, 'global', { validityDays: 10, now: () => issuedAt }).certPem);
    certificateExpiryTelemetry([{ name: 'mesh', file }, { name: 'grpc-public', file: path.join(dir, 'absent.pem') }]);
    const first = sample(await page(), 'authmesh_certificate_expiry_timestamp_seconds', { certificate: 'mesh' });
    assert.equal(first, issuedAt / 1000 + 10 * 86400);
    writeFileSync(file, issueMeshCert(ca, 'global', { validityDays: 20, now: () => issuedAt }).certPem);
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const text = await page();
    assert.equal(sample(text, 'authmesh_certificate_expiry_timestamp_seconds', { certificate: 'mesh' }), issuedAt / 1000 + 20 * 86400);
    assert.doesNotMatch(text, /certificate="grpc-public"/, 'a file that cannot be read reports nothing');
  });

  it('reports when the signing key in use is due to be replaced, and nothing for a key that never rotates', async () => {
    signingKeyExpiryTelemetry('regional/eastus', () => ({ createdAtMs: 1_700_000_000_000, rotateAfterMs: 86_400_000 }));
    signingKeyExpiryTelemetry('global', () => ({ createdAtMs: 1_700_000_000_000, rotateAfterMs: 0 }));
    const text = await page();
    assert.equal(sample(text, 'authmesh_signing_key_expiry_timestamp_seconds', { fault_domain: 'regional/eastus' }), 1_700_086_400);
    assert.doesNotMatch(text, /fault_domain="global"/);
  });
});
