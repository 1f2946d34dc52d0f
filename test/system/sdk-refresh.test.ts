import assert from 'node:assert/strict';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { CertificateCredential, ManagedIdentityCredential, TokenCache, type AccessToken, type TokenCacheEvent } from '../../client/index.js';
import { RESOURCE, TestMesh, type TestWorkload } from '../support/mesh-harness.js';
import { sleep } from '../support/spawn-service.js';

const LIFETIME = ['--token-lifetime', '6s'];
const SCOPE = `${RESOURCE}/.default`;

interface Timed<T> {
  atMs: number;
  value: T;
}

/**
 * Calls `getToken` every 100 ms (as a busy workload would) until the token it hands out has been
 * replaced, at most `limitMs`: every token handed out, with the time it was.
 */
async function untilReplaced(getToken: () => Promise<AccessToken>, limitMs: number): Promise<Timed<AccessToken>[]> {
  const handed: Timed<AccessToken>[] = [];
  const until = Date.now() + limitMs;
  while (Date.now() < until) {
    handed.push({ atMs: Date.now(), value: await getToken() });
    if (handed.at(-1)!.value.token !== handed[0]!.value.token) break;
    await sleep(100);
  }
  return handed;
}

/** What every credential must show: one fetch a caller waited on, then a background refresh at refresh_in. */
function assertRefreshedAtRefreshIn(label: string, handed: Timed<AccessToken>[], events: Timed<TokenCacheEvent>[]): void {
  const first = handed[0]!.value;
  const replacedAt = handed.findIndex((h) => h.value.token !== first.token);
  const started = events.filter((e) => e.value.type === 'fetch-started');
  const background = started.filter((e) => e.value.background);
  console.log(
    `      ${label}: refresh_in at +${first.refreshAfter - handed[0]!.atMs} ms, expiry at +${first.expiresOn - handed[0]!.atMs} ms; ` +
      `background fetch at +${(background[0]?.atMs ?? NaN) - handed[0]!.atMs} ms, new token handed out at +${(handed[replacedAt]?.atMs ?? NaN) - handed[0]!.atMs} ms`,
  );
  assert.ok(replacedAt > 0, `${label}: the token was never replaced`);
  assert.equal(started.filter((e) => !e.value.background).length, 1, `${label}: a caller waited on a fetch after the first`);
  assert.ok(background.length >= 1, `${label}: no background refresh`);
  assert.ok(background[0]!.atMs >= first.refreshAfter, `${label}: refreshed before refresh_in`);
  // Every token handed out was still valid, and the new one came before the old one expired.
  for (const h of handed) assert.ok(h.value.expiresOn > h.atMs, `${label}: handed out an expired token`);
  assert.ok(handed[replacedAt]!.atMs < first.expiresOn, `${label}: the new token came after the old one expired`);
  assert.ok(handed[replacedAt]!.value.expiresOn > first.expiresOn);
  assert.deepEqual(events.filter((e) => e.value.type === 'fetch-failed').map((e) => e.value), []);
}

/** The client SDK on a live mesh with 6 s tokens: refresh at refresh_in, through a certificate and through the identity agent. */
describe('client SDK refresh at refresh_in (system)', function () {
  this.timeout(120_000);
  const mesh = new TestMesh();
  let worker: TestWorkload;
  let agentClientId: string;

  before(async () => {
    await mesh.startGlobal(LIFETIME);
    worker = await mesh.addWorkload('refreshing-worker');
    const tenantId = worker.tenantId;
    ({ clientId: agentClientId } = await mesh.adminCall<{ clientId: string }>((c) => (m, o, cb) => c.createApp({ tenantId, name: 'host-vm-refresh' }, m, o, cb)));
    await mesh.adminCall((c) => (m, o, cb) => c.grantRole({ tenantId, clientId: agentClientId, resource: RESOURCE, role: 'Blob.Read' }, m, o, cb));
    await mesh.startRegional('eastus', LIFETIME);
    await mesh.startGateway('eastus');
    await mesh.start('identity-agent', 'services/identity-agent/main.js', (port) => [
      '--listen', `127.0.0.1:${port}`, '--socket-dir', path.join(mesh.dir, 'agent-run'), '--tenant', tenantId, '--client', agentClientId,
      '--admin', mesh.address('global'), '--admin-token-file', path.join(mesh.dir, 'global', 'admin-token'),
      '--gateways', mesh.address('gateway-eastus'), '--data-dir', path.join(mesh.dir, 'agent'),
    ]);
  });

  after(async () => {
    await mesh.stop();
  });

  it('CertificateCredential refreshes in the background after refresh_in and hands out the new token before the old one expires', async () => {
    const events: Timed<TokenCacheEvent>[] = [];
    const cache = new TokenCache({ expiryMarginMs: 500, onEvent: (e) => events.push({ atMs: Date.now(), value: e }) });
    const credential = new CertificateCredential(worker.tenantId, worker.clientId, worker.privateKey, { endpoints: [mesh.address('gateway-eastus')], cache });
    try {
      const handed = await untilReplaced(() => credential.getToken(SCOPE), 12_000);
      assertRefreshedAtRefreshIn('certificate', handed, events);
      assert.equal(decodeJwt(handed.at(-1)!.value.token).client_id, worker.clientId);
    } finally {
      credential.close();
    }
  });

  it('ManagedIdentityCredential gets its tokens from the real identity agent and refreshes them the same way', async () => {
    const events: Timed<TokenCacheEvent>[] = [];
    const cache = new TokenCache({ expiryMarginMs: 500, onEvent: (e) => events.push({ atMs: Date.now(), value: e }) });
    const credential = new ManagedIdentityCredential({ endpoint: mesh.address('identity-agent'), cache });
    try {
      const handed = await untilReplaced(() => credential.getToken(SCOPE, { deadline: Date.now() + 5000 }), 15_000);
      assert.equal(decodeJwt(handed[0]!.value.token).client_id, agentClientId, 'the token is the host identity\'s');
      assertRefreshedAtRefreshIn('managed identity', handed, events);
    } finally {
      credential.close();
    }
  });
});
