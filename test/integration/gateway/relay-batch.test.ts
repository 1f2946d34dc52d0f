import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { AcquireTokenRequest, AcquireTokenResponse } from '../../../gen/authmesh/token/v1/token.js';
import { RelayRequest, RelayResponse, TokenRelayServiceService } from '../../../gen/authmesh/relay/v1/relay.js';
import { frame, MessageReader } from '../../../lib/grpc/framing.js';
import { RELAY_BATCH_HEADER, RELAY_BATCH_LIMITS } from '../../../lib/grpc/relay.js';
import { RelayTokenBackend } from '../../../gateway/transport/relay.js';
import { startFakeTokenServer, type FakeTokenServer } from '../../support/fake-token-server.js';

const RELAY_PATH = TokenRelayServiceService.relay.path;

const request = (id: number): Buffer =>
  frame(
    RelayRequest.encode({
      id,
      method: 'AcquireToken',
      message: Buffer.from(AcquireTokenRequest.encode({ tenantId: 't1', clientId: `app-${id}`, scope: 'https://storage.authmesh.local/.default', clientAssertion: 'a.b.c', clientAssertionType: '', clientSecret: '' }).finish()),
      timeoutMs: 5000,
      metadata: {},
      cancel: false,
    }).finish(),
  );

/**
 * Opens a relay stream to `address` as a plain HTTP/2 client (not the gateway's code), sends
 * `calls` calls in one write and reads messages until every call is answered.
 */
async function relayOnce(address: string, calls: number, extraHeaders: http2.OutgoingHttpHeaders): Promise<RelayResponse[]> {
  const session = http2.connect(`http://${address}`);
  try {
    const stream = session.request({ ':method': 'POST', ':path': RELAY_PATH, 'content-type': 'application/grpc', te: 'trailers', ...extraHeaders });
    const messages: RelayResponse[] = [];
    const reader = new MessageReader();
    const done = new Promise<void>((resolve, reject) => {
      let answered = 0;
      stream.on('data', (chunk: Buffer) =>
        reader.push(chunk, (m) => {
          const res = RelayResponse.decode(m);
          messages.push(res);
          answered += 1 + res.more.length;
          if (answered >= calls) resolve();
        }),
      );
      stream.on('error', reject);
      stream.on('close', () => reject(new Error(`relay stream closed after ${answered} of ${calls} answers`)));
    });
    stream.write(Buffer.concat(Array.from({ length: calls }, (_, i) => request(i + 1))));
    await done;
    stream.close();
    return messages;
  } finally {
    session.close();
  }
}

/** Every answer in `messages`, packed or not, by id; each id must come back once. */
function answersById(messages: RelayResponse[]): Map<number, RelayResponse> {
  const byId = new Map<number, RelayResponse>();
  for (const res of messages.flatMap((m) => [m, ...m.more])) {
    assert.equal(byId.has(res.id), false, `call ${res.id} answered twice`);
    byId.set(res.id, res);
  }
  return byId;
}

describe('relay answers packed into one message', function () {
  this.timeout(15_000);
  let domain: FakeTokenServer | undefined;
  let server: http2.Http2Server | undefined;
  let backend: RelayTokenBackend | undefined;

  afterEach(async () => {
    backend?.close();
    backend = undefined;
    await domain?.stop();
    domain = undefined;
    await new Promise((r) => (server === undefined ? r(undefined) : server.close(r)));
    server = undefined;
  });

  it(`packs the answers that finish during a write into one message (at most the batch limit) on a stream opened with ${RELAY_BATCH_HEADER}: 1`, async () => {
    domain = await startFakeTokenServer('regional/eastus');
    const calls = 100;
    const messages = await relayOnce(domain.address, calls, { [RELAY_BATCH_HEADER]: '1' });
    const byId = answersById(messages);
    assert.equal(byId.size, calls);
    for (let id = 1; id <= calls; id++) {
      const res = byId.get(id);
      assert.ok(res !== undefined, `call ${id} has no answer`);
      assert.equal(res.code, 0);
      assert.equal(AcquireTokenResponse.decode(res.message).accessToken, `token-app-${id}-from-regional/eastus`);
      assert.equal(res.trailers['authmesh-data-age-ms'], '12');
    }
    for (const m of messages) for (const inner of m.more) assert.equal(inner.more.length, 0, 'a packed answer carries no answers of its own');
    console.log(`      ${calls} calls written at once: ${messages.length} answer messages (${messages.map((m) => 1 + m.more.length).join(', ')} answers each)`);
    assert.ok(messages.length < calls / 4, `${calls} answers that finished together came in ${messages.length} messages`);
    assert.ok(messages.every((m) => 1 + m.more.length <= RELAY_BATCH_LIMITS.answers), `no message over ${RELAY_BATCH_LIMITS.answers} answers`);
  });

  it('answers one message per call on a stream opened without it', async () => {
    domain = await startFakeTokenServer('regional/eastus');
    const messages = await relayOnce(domain.address, 50, {});
    assert.equal(messages.length, 50);
    assert.ok(messages.every((m) => m.more.length === 0));
    assert.equal(answersById(messages).size, 50);
  });

  it('asks for packed answers and settles every call whose answer came inside another call\'s message', async () => {
    // A domain written without the mesh's code: it waits for 10 calls and answers them all in one message.
    let asked: string | string[] | undefined;
    server = http2.createServer();
    server.on('stream', (stream, headers) => {
      assert.equal(headers[':path'], RELAY_PATH);
      asked = headers[RELAY_BATCH_HEADER];
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      const reader = new MessageReader();
      const got: RelayRequest[] = [];
      stream.on('data', (chunk: Buffer) =>
        reader.push(chunk, (m) => {
          got.push(RelayRequest.decode(m));
          if (got.length < 10) return;
          const answers = got.splice(0).map((req): RelayResponse => {
            const clientId = AcquireTokenRequest.decode(req.message).clientId;
            return { id: req.id, code: 0, details: '', message: Buffer.from(AcquireTokenResponse.encode({ accessToken: `packed-${clientId}`, tokenType: 'Bearer', expiresIn: 60, refreshIn: 30, faultDomain: 'x' }).finish()), trailers: { n: String(req.id) }, more: [] };
          });
          const [first, ...more] = answers.reverse();
          stream.write(frame(RelayResponse.encode({ ...first!, more }).finish()));
        }),
      );
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    backend = new RelayTokenBackend('regional/eastus', `127.0.0.1:${(server.address() as AddressInfo).port}`, { channels: 1 });
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        backend!.call('acquireToken', Buffer.from(AcquireTokenRequest.encode({ tenantId: 't1', clientId: `app-${i}`, scope: 's', clientAssertion: 'a.b.c', clientAssertionType: '', clientSecret: '' }).finish()), { deadline: Date.now() + 5000 }),
      ),
    );
    assert.equal(asked, '1');
    replies.forEach((r, i) => assert.equal(AcquireTokenResponse.decode(r.bytes).accessToken, `packed-app-${i}`));
  });
});
