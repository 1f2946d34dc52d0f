import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt } from 'jose';
import { CertificateCredential, MeshUnavailableError, SecretCredential, TokenCache, TokenRefusedError, type TokenCacheEvent } from '../../../client/index.js';
import { ManualClock } from '../../../lib/clock/index.js';
import { FakeTokenTransport, flush } from '../../support/fake-token-transport.js';

/** Lets promise callbacks and the async signer run until `cond` holds (bounded, no timers). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 10_000 && !cond(); i += 1) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), 'condition not reached');
}

const SCOPE = 'https://storage.authmesh.local/.default';
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

function setup(opts: { expiresIn?: number; refreshIn?: number } = {}) {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const transport = new FakeTokenTransport();
  transport.expiresIn = opts.expiresIn ?? 3600;
  transport.refreshIn = opts.refreshIn ?? 1800;
  const events: TokenCacheEvent[] = [];
  const cache = new TokenCache({ clock, random: () => 0, onEvent: (e) => events.push(e) });
  const credential = new CertificateCredential('tenant-1', 'client-1', key, { transport, clock, cache });
  return { clock, transport, credential, events };
}

describe('CertificateCredential', () => {
  it('returns the cached token without a request when a valid token is held', async () => {
    const { transport, credential } = setup();
    const first = await credential.getToken(SCOPE);
    const second = await credential.getToken(SCOPE);
    assert.equal(transport.requests.length, 1);
    assert.equal(second.token, first.token);
    assert.equal(first.faultDomain, 'regional/eastus');
    assert.equal(first.expiresOn - Date.UTC(2026, 0, 1), 3600_000);
  });

  it('keeps separate tokens per scope', async () => {
    const { transport, credential } = setup();
    await credential.getToken(SCOPE);
    await credential.getToken('https://orders.example/.default');
    assert.equal(transport.requests.length, 2);
    assert.deepEqual(transport.requests.map((r) => r.scope), [SCOPE, 'https://orders.example/.default']);
  });

  it('refreshes in the background once refresh_in has passed, and not a millisecond before', async () => {
    const { clock, transport, credential, events } = setup();
    const first = await credential.getToken(SCOPE);
    assert.equal(first.refreshAfter - clock.now(), 1800_000);
    const started = () => events.filter((e) => e.type === 'fetch-started').length;
    clock.advance(1800_000 - 1);
    assert.equal((await credential.getToken(SCOPE)).token, first.token);
    assert.equal(started(), 1, 'no refresh before refresh_in');
    clock.advance(1);
    const during = await credential.getToken(SCOPE);
    assert.equal(during.token, first.token, 'the caller gets the held token at once');
    assert.equal(started(), 2, 'a background refresh started');
    await credential.getToken(SCOPE);
    assert.equal(started(), 2, 'only one while it runs');
    await transport.waitForRequests(2);
    await flush();
    const after = await credential.getToken(SCOPE);
    assert.equal(after.token, 'token-2');
    assert.equal(after.refreshAfter, clock.now() + 1800_000);
  });

  it('spreads refresh times with jitter inside the window before expiry', async () => {
    const clock = new ManualClock();
    const transport = new FakeTokenTransport();
    const cache = new TokenCache({ clock, random: () => 0.999, refreshJitter: 0.1, expiryMarginMs: 5000 });
    const credential = new CertificateCredential('tenant-1', 'client-1', key, { transport, clock, cache });
    const t = await credential.getToken(SCOPE);
    const jitter = t.refreshAfter - (clock.now() + 1800_000);
    assert.ok(jitter > 0 && jitter <= 0.1 * (1800_000 - 5000), `jitter ${jitter}`);
  });

  it('keeps serving the still-valid token while refreshes fail, backs off, then errors once it has expired', async () => {
    const { clock, transport, credential, events } = setup({ expiresIn: 600, refreshIn: 300 });
    const first = await credential.getToken(SCOPE);
    transport.mode = 'unavailable';
    clock.advance(300_000);
    let served = 0;
    // Call every second for the rest of the token's life (minus the 5 s margin).
    for (let t = 300_000; t < 600_000 - 5000; t += 1000) {
      const before = events.length;
      assert.equal((await credential.getToken(SCOPE)).token, first.token);
      served += 1;
      // A refresh started by this call has to finish before the clock moves on.
      if (events.length > before) await until(() => events.at(-1)!.type === 'fetch-failed');
      clock.advance(1000);
    }
    const attempts = transport.requests.length - 1;
    const failures = events.filter((e) => e.type === 'fetch-failed').length;
    console.log(`      served ${served} calls from cache during the outage; ${attempts} refresh attempts with backoff`);
    assert.equal(failures, attempts);
    assert.ok(attempts >= 5 && attempts < 30, `refresh attempts ${attempts}: retried, with backoff`);
    clock.set(first.expiresOn - 5000);
    await assert.rejects(credential.getToken(SCOPE), (err: unknown) => {
      assert.ok(err instanceof MeshUnavailableError);
      assert.equal(err.code, 'ERR_MESH_UNAVAILABLE');
      assert.ok(err.cause === undefined || err.attempts.length > 0);
      return true;
    });
  });

  it('recovers without a restart once the mesh answers again', async () => {
    const { transport, credential } = setup();
    transport.mode = 'unavailable';
    await assert.rejects(credential.getToken(SCOPE), MeshUnavailableError);
    transport.mode = 'ok';
    assert.equal((await credential.getToken(SCOPE)).token, 'token-1');
  });

  it('makes one request for 100 concurrent callers of the same key', async () => {
    const { transport, credential } = setup();
    transport.mode = 'hold';
    const calls = Array.from({ length: 100 }, () => credential.getToken(SCOPE));
    await transport.waitForRequests(1);
    await flush();
    assert.equal(transport.requests.length, 1);
    transport.release();
    const tokens = await Promise.all(calls);
    assert.equal(new Set(tokens.map((t) => t.token)).size, 1);
    assert.equal(transport.requests.length, 1);
  });

  it('shares one failure among concurrent callers and lets the next call try again', async () => {
    const { transport, credential } = setup();
    transport.mode = 'unavailable';
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => credential.getToken(SCOPE)));
    assert.ok(results.every((r) => r.status === 'rejected'));
    assert.equal(transport.requests.length, 1);
    transport.mode = 'ok';
    await credential.getToken(SCOPE);
    assert.equal(transport.requests.length, 2);
  });

  it('rejects a caller whose signal aborts while the shared request carries on for the others', async () => {
    const { transport, credential } = setup();
    transport.mode = 'hold';
    const controller = new AbortController();
    const aborted = credential.getToken(SCOPE, { signal: controller.signal });
    const patient = credential.getToken(SCOPE);
    await transport.waitForRequests(1);
    controller.abort();
    await assert.rejects(aborted, (e: unknown) => (e as { code: string }).code === 'ERR_ABORTED');
    transport.release();
    assert.equal((await patient).token, 'token-1');
    assert.equal(transport.requests.length, 1);
  });

  it('returns a refusal as a typed error with the OAuth code', async () => {
    const { transport, credential } = setup();
    transport.mode = 'refuse';
    await assert.rejects(credential.getToken(SCOPE), (e: unknown) => e instanceof TokenRefusedError && e.oauthError === 'invalid_client' && e.code === 'ERR_TOKEN_REFUSED');
  });

  it('reuses one assertion across requests until it nears its expiry, then builds a new one', async () => {
    const { clock, transport, credential } = setup();
    await credential.getToken(SCOPE);
    await credential.getToken('https://a.example/.default');
    clock.advance(500_000);
    await credential.getToken('https://b.example/.default');
    const [a, b, c] = transport.requests.map((r) => r.clientAssertion);
    assert.equal(a, b);
    assert.equal(b, c, 'still 100 s before the 600 s assertion expires');
    const claims = decodeJwt(a!);
    assert.equal(claims.iss, 'client-1');
    assert.equal(claims.aud, 'https://login.authmesh.local/tenant-1/oauth2/v2.0/token');
    assert.equal(claims.exp! - claims.iat!, 600);
    clock.advance(50_000);
    await credential.getToken('https://c.example/.default');
    const d = transport.requests[3]!.clientAssertion;
    assert.notEqual(d, a, 'renewed inside the last 60 s');
    assert.equal(decodeJwt(d).iat, Math.floor(clock.now() / 1000));
  });

  it('refuses a key that is not EC P-256 or RSA at construction', () => {
    const ed = generateKeyPairSync('ed25519').privateKey;
    assert.throws(() => new CertificateCredential('t', 'c', ed, { transport: new FakeTokenTransport() }), (e: unknown) => (e as { code: string }).code === 'ERR_INVALID_CREDENTIAL');
  });
});

describe('SecretCredential', () => {
  it('sends the secret and no assertion when asked for a token', async () => {
    const transport = new FakeTokenTransport();
    const credential = new SecretCredential('tenant-1', 'client-1', 's3cret', { transport, clock: new ManualClock() });
    await credential.getToken(SCOPE);
    await credential.getToken(SCOPE);
    assert.equal(transport.requests.length, 1);
    assert.equal(transport.requests[0]!.clientSecret, 's3cret');
    assert.equal(transport.requests[0]!.clientAssertion, '');
  });
});
