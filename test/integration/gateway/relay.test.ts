import assert from 'node:assert/strict';
import { Metadata, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import {
  AcquireTokenRequest,
  AcquireTokenResponse,
  TokenServiceService,
  type GetJwksRequest,
  type GetJwksResponse,
} from '../../../gen/authmesh/token/v1/token.js';
import { BearerCheck, mapToMetadata, metadataToMap, requireBearer, serve, withRelay, type RunningServer, type ServiceBinding } from '../../../lib/grpc/index.js';
import type { BackendError } from '../../../gateway/routing/token-backend.js';
import { MAX_RELAYED_BYTES, RelayTokenBackend } from '../../../gateway/transport/relay.js';
import { serveTokenService, startFakeTokenServer, type FakeTokenServer } from '../../support/fake-token-server.js';
import { startWorkerTokenServer } from '../../support/worker-token-server.js';
import { startTcpProxy } from '../regional/tcp-proxy.js';

const encode = (clientId: string, assertion = 'a.b.c'): Buffer =>
  Buffer.from(AcquireTokenRequest.encode({ tenantId: 't1', clientId, scope: 'https://storage.authmesh.local/.default', clientAssertion: assertion, clientAssertionType: '', clientSecret: '' }).finish());
const decode = (bytes: Buffer): AcquireTokenResponse => AcquireTokenResponse.decode(bytes);
const soon = (ms = 5000): number => Date.now() + ms;

async function failure(p: Promise<unknown>): Promise<BackendError> {
  try {
    await p;
  } catch (err) {
    return err as BackendError;
  }
  throw new Error('the call succeeded');
}

describe('TokenRelayService between the gateway and a domain', function () {
  this.timeout(15_000);
  let domain: FakeTokenServer | undefined;
  let backend: RelayTokenBackend | undefined;

  afterEach(async () => {
    backend?.close();
    await domain?.stop();
    backend = undefined;
    domain = undefined;
  });

  it('answers relayed calls with the domain bytes and trailers, each matched to its own call', async () => {
    domain = await startFakeTokenServer('regional/eastus');
    backend = new RelayTokenBackend('regional/eastus', domain.address, { channels: 2 });
    const ids = Array.from({ length: 200 }, (_, i) => `app-${i}`);
    const replies = await Promise.all(ids.map((id) => backend!.call('acquireToken', encode(id), { deadline: soon() })));
    replies.forEach((r, i) => {
      assert.equal(decode(r.bytes).accessToken, `token-app-${i}-from-regional/eastus`);
      assert.equal(r.trailers.get('authmesh-data-age-ms')[0], '12');
    });
    assert.equal(domain.calls.acquireToken, 200);
    assert.equal(backend.relaying, true, 'the domain serves the relay, so calls stay on it');
  });

  it('returns a caller error with its status, message and oauth-error trailer', async () => {
    domain = await startFakeTokenServer('regional/eastus', { kind: 'fail', code: status.UNAUTHENTICATED, details: 'bad assertion', oauthError: 'invalid_client' });
    backend = new RelayTokenBackend('regional/eastus', domain.address);
    const e = await failure(backend.call('acquireToken', encode('app'), { deadline: soon() }));
    assert.equal(e.code, status.UNAUTHENTICATED);
    assert.equal(e.details, 'bad assertion');
    assert.equal(e.metadata.get('oauth-error')[0], 'invalid_client');
  });

  it('answers undecodable request bytes INVALID_ARGUMENT with oauth-error invalid_request, over the relay and direct, and never calls the handler', async () => {
    domain = await startFakeTokenServer('regional/eastus');
    const relayed = new RelayTokenBackend('regional/eastus', domain.address);
    backend = relayed;
    for (const bytes of [Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x01]), Buffer.from([0x08])]) {
      const e = await failure(relayed.call('acquireToken', bytes, { deadline: soon() }));
      assert.equal(e.code, status.INVALID_ARGUMENT, `relayed ${bytes.toString('hex')}: ${e.code} ${e.details}`);
      assert.equal(e.metadata.get('oauth-error')[0], 'invalid_request');
    }
    assert.equal(relayed.relaying, true);
    // Past MAX_RELAYED_BYTES a request goes as a call of its own: grpc-js's own path.
    const big = Buffer.concat([Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.alloc(MAX_RELAYED_BYTES + 10, 0xff)]);
    const e = await failure(relayed.call('acquireToken', big, { deadline: soon() }));
    assert.equal(e.code, status.INVALID_ARGUMENT, `direct: ${e.code} ${e.details}`);
    assert.equal(e.metadata.get('oauth-error')[0], 'invalid_request');
    assert.equal(domain.calls.acquireToken, 0);
  });

  it('ends a call at its own deadline when the domain hangs, and serves the next calls once it answers again', async () => {
    domain = await startFakeTokenServer('regional/eastus', { kind: 'hang' });
    backend = new RelayTokenBackend('regional/eastus', domain.address);
    const started = Date.now();
    const e = await failure(backend.call('acquireToken', encode('app'), { deadline: soon(150) }));
    const ms = Date.now() - started;
    assert.equal(e.code, status.DEADLINE_EXCEEDED);
    assert.ok(ms >= 140 && ms < 2000, `ended after ${ms} ms`);
    domain.set({ kind: 'answer' });
    const r = await backend.call('acquireToken', encode('next'), { deadline: soon() });
    assert.equal(decode(r.bytes).accessToken, 'token-next-from-regional/eastus');
  });

  it('fails every waiting call as UNAVAILABLE at once when the domain goes away', async () => {
    // A domain that never answers, then drops its connections: no answer ever comes for the calls.
    const server = await serveTokenService(() => undefined);
    const link = await startTcpProxy(server.address);
    backend = new RelayTokenBackend('regional/eastus', link.address);
    const calls = Array.from({ length: 5 }, (_, i) => failure(backend!.call('acquireToken', encode(`app-${i}`), { deadline: soon(10_000) })));
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    link.cut();
    const errors = await Promise.all(calls);
    await Promise.all([link.close(), server.shutdown(0)]);
    for (const e of errors) {
      assert.equal(e.code, status.UNAVAILABLE);
      assert.match(e.details, /relay stream ended/);
    }
    assert.ok(Date.now() - started < 5000, 'not left to run into their 10 s deadlines');
  });

  it('resets a stream that answers nothing past a deadline, so the domain drops the calls queued on it', async () => {
    const cancelled: string[] = [];
    const server = await serveTokenService((call) => call.once('cancelled', () => cancelled.push(call.request.clientId)));
    backend = new RelayTokenBackend('regional/eastus', server.address);
    try {
      const short = failure(backend.call('acquireToken', encode('short'), { deadline: soon(200) }));
      const long = failure(backend.call('acquireToken', encode('long'), { deadline: soon(10_000) }));
      assert.equal((await short).code, status.DEADLINE_EXCEEDED);
      const e = await long;
      assert.equal(e.code, status.UNAVAILABLE);
      assert.match(e.details, /relay stream ended/);
      const until = Date.now() + 2000;
      while (cancelled.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(cancelled.sort(), ['long', 'short'], `the domain saw both calls cancelled with the stream, saw ${cancelled.join()}`);
    } finally {
      await server.shutdown(0);
    }
  });

  it('does not reset a stream that answered while the gateway itself was held up past a deadline', async () => {
    const worker = await startWorkerTokenServer({ answerAfterMs: 20 });
    backend = new RelayTokenBackend('backup', worker.address);
    try {
      assert.equal(decode((await backend.call('acquireToken', encode('warm'), { deadline: soon() })).bytes).accessToken, 'token-warm');
      await new Promise((r) => setTimeout(r, 20)); // the calls below are sent after the last answer
      const timedOut = failure(backend.call('acquireToken', encode('hang'), { deadline: soon(50) }));
      const answered = backend.call('acquireToken', encode('answered'), { deadline: soon() });
      await new Promise((r) => setTimeout(r, 5)); // both requests leave
      // The gateway's thread is held (a long GC, a starved CPU) while the domain answers
      // `answered`. It is held at the end of a loop turn, so when it runs again the hanging call's
      // timer fires before the loop reads that answer from the socket.
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          const until = Date.now() + 300;
          while (Date.now() < until);
          resolve();
        }),
      );
      assert.equal((await timedOut).code, status.DEADLINE_EXCEEDED);
      assert.equal(decode((await answered).bytes).accessToken, 'token-answered', 'the answered call survives');
      assert.equal(decode((await backend.call('acquireToken', encode('after'), { deadline: soon() })).bytes).accessToken, 'token-after');
    } finally {
      await worker.stop();
    }
  });

  it('cancels in the domain a call it stopped waiting for, while the stream keeps serving', async () => {
    const cancelled: string[] = [];
    const server = await serveTokenService((call, callback) => {
      if (call.request.clientId.startsWith('hang')) {
        call.once('cancelled', () => cancelled.push(call.request.clientId));
        return;
      }
      setTimeout(() => callback(null, { accessToken: `ok-${call.request.clientId}`, tokenType: 'Bearer', expiresIn: 60, refreshIn: 30, faultDomain: 'global' }), 50);
    });
    backend = new RelayTokenBackend('global', server.address);
    try {
      const controller = new AbortController();
      const timedOut = failure(backend.call('acquireToken', encode('hang-deadline'), { deadline: soon(250) }));
      const abandoned = failure(backend.call('acquireToken', encode('hang-caller'), { deadline: soon(), signal: controller.signal }));
      const answered = backend.call('acquireToken', encode('fast'), { deadline: soon() });
      assert.equal(decode((await answered).bytes).accessToken, 'ok-fast');
      controller.abort();
      assert.equal((await abandoned).code, status.CANCELLED);
      assert.equal((await timedOut).code, status.DEADLINE_EXCEEDED);
      const until = Date.now() + 2000;
      while (cancelled.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(cancelled.sort(), ['hang-caller', 'hang-deadline']);
      assert.equal(decode((await backend.call('acquireToken', encode('after'), { deadline: soon() })).bytes).accessToken, 'ok-after', 'same stream, still serving');
    } finally {
      await server.shutdown(0);
    }
  });

  it('lets a domain shut down gracefully: calls in flight are answered and the relay stream ends', async () => {
    const server = await serveTokenService((call, callback) =>
      setTimeout(() => callback(null, { accessToken: `late-${call.request.clientId}`, tokenType: 'Bearer', expiresIn: 60, refreshIn: 30, faultDomain: 'regional/eastus' }), 200),
    );
    backend = new RelayTokenBackend('regional/eastus', server.address);
    const calls = ['a', 'b', 'c'].map((id) => backend!.call('acquireToken', encode(id), { deadline: soon() }));
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await server.shutdown(5000);
    const ms = Date.now() - started;
    const replies = await Promise.all(calls);
    assert.deepEqual(
      replies.map((r) => decode(r.bytes).accessToken),
      ['late-a', 'late-b', 'late-c'],
    );
    assert.ok(ms < 2500, `shutdown took ${ms} ms: the relay stream held it to the grace period`);
  });

  it('stops waiting on a call the caller gave up on', async () => {
    domain = await startFakeTokenServer('regional/eastus', { kind: 'hang' });
    backend = new RelayTokenBackend('regional/eastus', domain.address);
    const controller = new AbortController();
    const pending = failure(backend.call('acquireToken', encode('app'), { deadline: soon(), signal: controller.signal }));
    setTimeout(() => controller.abort(), 50);
    const e = await pending;
    assert.equal(e.code, status.CANCELLED);
    assert.equal(e.callerCancelled, true);
  });

  it('makes calls of their own to a domain without the relay, the calls in flight included', async () => {
    domain = await startFakeTokenServer('global', { kind: 'answer' }, { relay: false });
    backend = new RelayTokenBackend('global', domain.address);
    const replies = await Promise.all(['a', 'b', 'c'].map((id) => backend!.call('acquireToken', encode(id), { deadline: soon() })));
    assert.deepEqual(
      replies.map((r) => decode(r.bytes).accessToken),
      ['token-a-from-global', 'token-b-from-global', 'token-c-from-global'],
    );
    assert.equal(backend.relaying, false);
    const jwks = await backend.call('getJwks', Buffer.alloc(0), { deadline: soon() });
    assert.match(jwks.bytes.toString(), /from.*global/);
  });

  it(`sends a request over ${MAX_RELAYED_BYTES} bytes as a call of its own`, async () => {
    domain = await startFakeTokenServer('regional/eastus');
    backend = new RelayTokenBackend('regional/eastus', domain.address);
    const big = encode('big', 'x'.repeat(MAX_RELAYED_BYTES + 100));
    const r = await backend.call('acquireToken', big, { deadline: soon() });
    assert.equal(decode(r.bytes).accessToken, 'token-big-from-regional/eastus');
    assert.equal(domain.lastRequest?.clientAssertion.length, MAX_RELAYED_BYTES + 100);
  });

  describe('guards of the relayed service', () => {
    let server: RunningServer;
    let seen: Metadata | undefined;

    before(async () => {
      const token: ServiceBinding = {
        name: 'authmesh.token.v1.TokenService',
        definition: TokenServiceService,
        implementation: requireBearer(
          TokenServiceService,
          {
            acquireToken: (call: ServerUnaryCall<AcquireTokenRequest, AcquireTokenResponse>, callback: sendUnaryData<AcquireTokenResponse>) => {
              seen = call.metadata;
              callback(null, { accessToken: `ok-${call.request.clientId}`, tokenType: 'Bearer', expiresIn: 60, refreshIn: 30, faultDomain: 'backup' });
            },
            getJwks: (_call: ServerUnaryCall<GetJwksRequest, GetJwksResponse>, callback: sendUnaryData<GetJwksResponse>) => callback(null, { jwksJson: '{}' }),
          },
          new BearerCheck(['mesh-secret']),
          'mesh token',
        ),
      };
      server = await serve({ listen: '127.0.0.1:0', services: withRelay([token], token.name) });
    });

    after(() => server.shutdown(100));

    it('checks every relayed call with the bearer the stream was opened with', async () => {
      const good = new RelayTokenBackend('backup', server.address, { bearerToken: 'mesh-secret' });
      const bad = new RelayTokenBackend('backup', server.address, { bearerToken: 'guess' });
      try {
        const md = new Metadata();
        md.set('x-request-tag', 'tag-1');
        md.set('x-trace-bin', Buffer.from([1, 2, 3]));
        const r = await good.call('acquireToken', encode('app'), { deadline: soon(), metadata: md });
        assert.equal(decode(r.bytes).accessToken, 'ok-app');
        assert.equal(seen?.get('x-request-tag')[0], 'tag-1', 'call metadata reaches the handler');
        assert.deepEqual(seen?.get('x-trace-bin')[0], Buffer.from([1, 2, 3]));
        const e = await failure(bad.call('acquireToken', encode('app'), { deadline: soon() }));
        assert.equal(e.code, status.UNAUTHENTICATED);
        // A call's own authorization never stands in for the stream's, in either direction.
        const forged = new Metadata();
        forged.set('authorization', 'Bearer mesh-secret');
        const still = await failure(bad.call('acquireToken', encode('app'), { deadline: soon(), metadata: forged }));
        assert.equal(still.code, status.UNAUTHENTICATED);
        const noise = new Metadata();
        noise.set('authorization', 'Bearer guess');
        assert.equal(decode((await good.call('acquireToken', encode('app2'), { deadline: soon(), metadata: noise })).bytes).accessToken, 'ok-app2');
        assert.deepEqual(seen?.get('authorization'), ['Bearer mesh-secret']);
        assert.equal(good.relaying && bad.relaying, true);
      } finally {
        good.close();
        bad.close();
      }
    });

    it('moves new calls to a stream opened with the current token once the token is replaced', async () => {
      let token = 'guess';
      const backend = new RelayTokenBackend('backup', server.address, { bearerToken: () => token });
      try {
        const refused = await failure(backend.call('acquireToken', encode('app'), { deadline: soon() }));
        assert.equal(refused.code, status.UNAUTHENTICATED);
        // The old stream is still open; the next call must not go on it.
        token = 'mesh-secret';
        const r = await backend.call('acquireToken', encode('app3'), { deadline: soon() });
        assert.equal(decode(r.bytes).accessToken, 'ok-app3');
        assert.deepEqual(seen?.get('authorization'), ['Bearer mesh-secret']);
        assert.equal(backend.relaying, true);
      } finally {
        backend.close();
      }
    });
  });

  it('round-trips metadata through the relay map, binary values and repeated keys included', () => {
    const md = new Metadata();
    md.add('x-a', 'one');
    md.add('x-a', 'two');
    md.add('x-b-bin', Buffer.from('hello'));
    md.add('x-b-bin', Buffer.from([0, 255]));
    const back = mapToMetadata(metadataToMap(md));
    assert.deepEqual(back.get('x-a'), ['one, two']);
    assert.deepEqual(back.get('x-b-bin'), [Buffer.from('hello'), Buffer.from([0, 255])]);
  });
});
