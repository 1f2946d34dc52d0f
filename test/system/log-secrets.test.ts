import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import type { AcquireTokenRequest, AcquireTokenResponse, TokenServiceClient } from '../../gen/authmesh/token/v1/token.js';
import { startOtlpReceiver, type OtlpReceiver } from '../../lib/telemetry/index.js';
import { ASSERTION_TYPE, DEFAULT_ISSUER, buildAssertion } from '../../lib/token/index.js';
import { RESOURCE, TestMesh, acquire, type TestWorkload } from '../support/mesh-harness.js';
import { sleep } from '../support/spawn-service.js';

function call(client: TokenServiceClient, req: Partial<AcquireTokenRequest>): Promise<{ res?: AcquireTokenResponse; err?: ServiceError }> {
  const full: AcquireTokenRequest = { tenantId: '', clientId: '', scope: `${RESOURCE}/.default`, clientAssertion: '', clientAssertionType: '', clientSecret: '', ...req };
  return new Promise((resolve) => {
    client.acquireToken(full, new Metadata(), { deadline: Date.now() + 5000 }, (err, res) => resolve(err ? { err } : { res }));
  });
}

/** Every part of a JWT long enough to be recognised in a log line. */
const jwtParts = (jwt: string): string[] => [jwt, ...jwt.split('.').filter((p) => p.length >= 16)];

/**
 * A run with bad credentials at trace log level on every process: no secret, assertion or token
 * text may appear in any log line.
 */
describe('log lines of a run with bad credentials (system)', function () {
  this.timeout(90_000);
  let receiver: OtlpReceiver;
  let mesh: TestMesh;
  let workload: TestWorkload;
  const sensitive: string[] = [];

  before(async () => {
    receiver = await startOtlpReceiver({ listen: '127.0.0.1:0' });
    mesh = new TestMesh();
    mesh.env = { OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '100' };
    await mesh.startGlobal(['--log-level', 'trace']);
    workload = await mesh.addWorkload('log-worker');
    await mesh.startRegional('eastus', ['--log-level', 'trace']);
    await mesh.startGateway('eastus', ['--log-level', 'trace']);
  });

  after(async () => {
    await mesh?.stop();
    await receiver?.close();
  });

  it('holds no assertion, secret or token text when callers send a wrong secret, a garbage assertion and a forged assertion', async () => {
    const { tenantId, clientId } = workload;
    const { secret } = await mesh.adminCall<{ secret: string }>((c) => (m, o, cb) => c.addSecretCredential({ tenantId, clientId, lifetimeSeconds: 0 }, m, o, cb));
    const wrongSecret = `wrong-${randomBytes(24).toString('base64url')}`;
    const garbage = `garbage.${randomBytes(30).toString('base64url')}.${randomBytes(30).toString('base64url')}`;
    const { privateKey: otherKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { assertion: forged } = await buildAssertion({ tenantId, clientId, issuer: DEFAULT_ISSUER, privateKey: otherKey, lifetimeSeconds: 600 });
    sensitive.push(secret, wrongSecret, garbage, ...jwtParts(forged), ...jwtParts(workload.assertion));

    const endpoints = ['gateway-eastus', 'regional-eastus', 'global'].map((n) => mesh.tokenClient(n));
    for (const client of endpoints) {
      const good = await acquire(client, workload);
      assert.ok(good.response !== undefined, good.error?.details);
      sensitive.push(...jwtParts(good.response.accessToken));
      const bySecret = await call(client, { tenantId, clientId, clientSecret: secret });
      assert.ok(bySecret.res !== undefined, bySecret.err?.details);
      sensitive.push(...jwtParts(bySecret.res.accessToken));
      for (const bad of [
        { tenantId, clientId, clientSecret: wrongSecret },
        { tenantId, clientId, clientAssertion: garbage, clientAssertionType: ASSERTION_TYPE },
        { tenantId, clientId, clientAssertion: forged, clientAssertionType: ASSERTION_TYPE },
        { tenantId, clientId: `unknown-${clientId}`, clientAssertion: forged, clientAssertionType: ASSERTION_TYPE },
      ]) {
        const out = await call(client, bad);
        assert.ok(out.err !== undefined, 'refused');
      }
    }
    // Wait until every call's server span has come in (6 calls at each endpoint, regional also
    // answering the gateway's 6): the spans of the refusals are among those checked below.
    const want: Record<string, number> = { gateway: 6, regional: 12, global: 6 };
    const until = Date.now() + 20_000;
    for (;;) {
      const got = Object.fromEntries(Object.keys(want).map((k) => [k, receiver.spans().filter((sp) => sp.kind === 2 && sp.name.endsWith('/AcquireToken') && sp.service.includes(k)).length]));
      if (Object.keys(want).every((k) => got[k]! >= want[k]!)) break;
      if (Date.now() > until) assert.fail(`server spans still missing after 20 s: ${JSON.stringify(got)}`);
      await sleep(50);
    }
    const lines = [...mesh.procs.values()].flatMap((p) => p.output.map((line) => ({ name: p.name, line })));
    assert.ok(lines.length > 10, 'the processes logged');
    const leaks = lines.filter(({ line }) => sensitive.some((s) => line.includes(s)));
    assert.deepEqual(leaks, []);
    // The spans went out as well; none of them may carry the texts either.
    const spanText = JSON.stringify(receiver.spans());
    assert.ok(spanText.length > 2);
    assert.equal(sensitive.filter((s) => spanText.includes(s)).length, 0, 'no secret, assertion or token in a span');
    const traced = lines.filter(({ line }) => line.includes('"trace_id"')).length;
    console.log(`      ${lines.length} log lines checked against ${sensitive.length} sensitive texts; ${traced} lines carry a trace_id`);
  });
});
