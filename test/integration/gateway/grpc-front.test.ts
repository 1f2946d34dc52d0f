import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { credentials, makeGenericClientConstructor, Metadata, status, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { AcquireTokenRequest, AcquireTokenResponse, TokenServiceClient, type AcquireTokenResponse as Response } from '../../../gen/authmesh/token/v1/token.js';
import { serve, type RunningServer } from '../../../lib/grpc/index.js';
import { silentLogger } from '../../../lib/log/index.js';
import type { ForwardRequest, ForwardResult } from '../../../gateway/routing/forwarder.js';
import { startGrpcFront, type RunningGrpcFront } from '../../../gateway/front/grpc-front.js';
import { parseGrpcTimeout, readMessage } from '../../../lib/grpc/framing.js';
import { TOKEN_SERVICE_NAME } from '../../../gateway/pass-through.js';

const REQUEST = { tenantId: 't1', clientId: 'app1', scope: 'https://storage.authmesh.local/.default', clientAssertion: 'a.b.c', clientAssertionType: '', clientSecret: '' };

interface HealthClient extends Client {
  check(req: { service: string }, cb: (err: ServiceError | null, res?: { status?: string | number }) => void): void;
  watch(req: { service: string }): ClientReadableStream<{ status?: string | number }>;
}
const Health = makeGenericClientConstructor(healthService, 'Health') as unknown as new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => HealthClient;

interface Outcome {
  res?: Response;
  err?: ServiceError;
  trailers: Metadata;
}

function acquire(client: TokenServiceClient, md = new Metadata(), deadlineMs = 5000, request = REQUEST): Promise<Outcome> {
  return new Promise((resolve) => {
    let res: Response | undefined;
    let err: ServiceError | undefined;
    const call = client.acquireToken(request, md, { deadline: Date.now() + deadlineMs }, (e, r) => {
      err = e ?? undefined;
      res = r;
    });
    call.on('status', (s) => resolve({ ...(res ? { res } : {}), ...(err ? { err } : {}), trailers: s.metadata }));
  });
}

/** A forwarder the test steers: records every request and answers with `answer`. */
class TestForwarder {
  seen: ForwardRequest[] = [];
  answer: (req: ForwardRequest) => Promise<ForwardResult> = () => Promise.resolve(ok('token-1'));

  forward(req: ForwardRequest): Promise<ForwardResult> {
    this.seen.push(req);
    return this.answer(req);
  }
}

function ok(accessToken: string): ForwardResult {
  const trailers = new Metadata();
  trailers.set('authmesh-fault-domain', 'regional/eastus');
  trailers.set('authmesh-attempts', '1');
  const bytes = Buffer.from(AcquireTokenResponse.encode({ accessToken, tokenType: 'Bearer', expiresIn: 60, refreshIn: 30, faultDomain: 'regional/eastus' }).finish());
  return { ok: true, bytes, trailers, domain: 'regional/eastus', attempts: 1 };
}

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('gateway gRPC front (lib/http2 connection layer)', function () {
  this.timeout(10_000);
  let inner: RunningServer;
  let front: RunningGrpcFront;
  let forwarder: TestForwarder;
  let client: TokenServiceClient;
  let socket: string;

  before(async () => {
    socket = `/tmp/authmesh-front-test-${process.pid}.sock`;
    inner = await serve({ listen: `unix:${socket}`, services: [], healthServices: [TOKEN_SERVICE_NAME] });
  });

  beforeEach(async () => {
    forwarder = new TestForwarder();
    front = await startGrpcFront({
      listen: '127.0.0.1:0',
      forwarder,
      inner: { connect: () => http2.connect('http://localhost', { createConnection: () => net.connect(socket) }) },
      log: silentLogger(),
      maxInFlight: 2,
      maxRequestBytes: 4096,
      limits: { requestBodyTimeoutMs: 300, maxStreamsPerConnection: 4, maxBufferedBytes: 64 * 1024 },
    });
    client = new TokenServiceClient(front.address, credentials.createInsecure());
  });

  afterEach(async () => {
    client.close();
    await front.close(100);
  });

  after(() => inner.shutdown(100));

  it('hands the request bytes, deadline and caller metadata (without transport headers) to the failover loop', async () => {
    const md = new Metadata();
    md.set('x-request-tag', 'tag-7');
    md.set('x-blob-bin', Buffer.from([9, 8, 7]));
    const before = Date.now();
    const o = await acquire(client, md, 3000);
    assert.equal(o.err, undefined);
    assert.equal(o.res?.accessToken, 'token-1');
    assert.equal(o.trailers.get('authmesh-fault-domain')[0], 'regional/eastus');
    const req = forwarder.seen[0]!;
    assert.equal(req.method, 'acquireToken');
    assert.deepEqual(AcquireTokenRequest.decode(req.bytes), REQUEST);
    assert.ok(req.deadline !== undefined && req.deadline >= before + 2900 && req.deadline <= Date.now() + 3000, `deadline ${req.deadline}`);
    assert.equal(req.metadata?.get('x-request-tag')[0], 'tag-7');
    assert.deepEqual(req.metadata?.get('x-blob-bin')[0], Buffer.from([9, 8, 7]));
    for (const key of ['user-agent', 'grpc-accept-encoding', 'accept-encoding', 'content-type', 'te', 'grpc-timeout']) assert.equal(req.metadata?.get(key).length, 0, key);
  });

  it('hands no metadata on for a call whose headers are all HTTP framing (user-agent, content-length, accept-encoding)', async () => {
    const session = http2.connect(`http://${front.address}`);
    try {
      const body = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), AcquireTokenRequest.encode(REQUEST).finish()]);
      body.writeUInt32BE(body.length - 5, 1);
      const answered = await new Promise<http2.IncomingHttpHeaders>((resolve) => {
        const s = session.request({
          ':method': 'POST', ':path': '/authmesh.token.v1.TokenService/AcquireToken', 'content-type': 'application/grpc', te: 'trailers',
          'user-agent': 'h2load nghttp2/1.52.0', 'content-length': String(body.length), 'accept-encoding': 'gzip, deflate',
        });
        s.on('trailers', resolve);
        s.on('data', () => undefined);
        s.end(body);
      });
      assert.equal(answered['grpc-status'], '0');
      assert.equal(forwarder.seen.length, 1);
      assert.equal(forwarder.seen[0]!.metadata, undefined, JSON.stringify(forwarder.seen[0]!.metadata?.toJSON()));
    } finally {
      session.close();
    }
  });

  it('returns a status with its message and trailers as a trailers-only answer', async () => {
    forwarder.answer = () => {
      const trailers = new Metadata();
      trailers.set('oauth-error', 'invalid_client');
      return Promise.resolve({ ok: false, code: status.UNAUTHENTICATED, details: 'assertion signature does not verify: 100% sure', trailers, attempts: 1 });
    };
    const o = await acquire(client);
    assert.equal(o.err?.code, status.UNAUTHENTICATED);
    assert.equal(o.err?.details, 'assertion signature does not verify: 100% sure');
    assert.equal(o.trailers.get('oauth-error')[0], 'invalid_client');
  });

  it('sheds calls past max in flight with RESOURCE_EXHAUSTED and tells the loop when a caller goes away', async () => {
    const held: (() => void)[] = [];
    forwarder.answer = (req) =>
      new Promise((resolve) => {
        held.push(() => resolve(ok('late')));
        req.signal?.addEventListener('abort', () => resolve(ok('aborted')));
      });
    const first = acquire(client, new Metadata(), 300);
    const second = acquire(client);
    while (forwarder.seen.length < 2) await new Promise((r) => setTimeout(r, 5));
    const shed = await acquire(client);
    assert.equal(shed.err?.code, status.RESOURCE_EXHAUSTED);
    assert.match(shed.err?.details ?? '', /saturated/);
    assert.equal((await first).err?.code, status.DEADLINE_EXCEEDED);
    while (forwarder.seen[0]!.signal?.aborted !== true) await new Promise((r) => setTimeout(r, 5));
    for (const release of held) release();
    assert.equal((await second).res?.accessToken, 'late');
    assert.equal(front.inFlight, 0);
  });

  it('never tells the loop the caller went away for a call it answered (the domain attempts still running are not cancelled)', async () => {
    const answered = await acquire(client);
    assert.equal(answered.res?.accessToken, 'token-1');
    forwarder.answer = () => Promise.resolve({ ok: false, code: status.UNAVAILABLE, details: 'down', trailers: new Metadata(), attempts: 1 });
    assert.equal((await acquire(client)).err?.code, status.UNAVAILABLE);
    await waitFor(() => front.inFlight === 0);
    assert.deepEqual(forwarder.seen.map((r) => r.signal?.aborted), [false, false]);
  });

  it('counts unfinished requests in flight and ends them DEADLINE_EXCEEDED once the body timeout passes', async () => {
    const session = http2.connect(`http://${front.address}`);
    await new Promise((resolve) => session.once('connect', resolve));
    try {
      const idle = Array.from({ length: 2 }, () =>
        session.request({ ':method': 'POST', ':path': '/authmesh.token.v1.TokenService/AcquireToken', 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false }),
      );
      const ended = idle.map(
        (s) =>
          new Promise<string | undefined>((resolve) => {
            let code: string | undefined;
            s.on('error', () => undefined);
            s.on('response', (h) => (code ??= h['grpc-status'] as string | undefined));
            s.on('close', () => resolve(code));
          }),
      );
      // Half a message: the length prefix promises 100 bytes, 10 come.
      for (const s of idle) s.write(Buffer.concat([Buffer.from([0, 0, 0, 0, 100]), Buffer.alloc(10)]));
      await waitFor(() => front.inFlight === 2);
      const shed = await acquire(client);
      assert.equal(shed.err?.code, status.RESOURCE_EXHAUSTED, 'max in flight is 2 and 2 unfinished calls hold it');
      assert.deepEqual(await Promise.all(ended), [String(status.DEADLINE_EXCEEDED), String(status.DEADLINE_EXCEEDED)]);
      assert.equal(front.inFlight, 0);
      assert.equal((await acquire(client)).res?.accessToken, 'token-1');
      assert.equal(forwarder.seen.length, 1);
    } finally {
      session.close();
    }
  });

  it('refuses streams past the per-connection limit and bytes past the buffered total', async () => {
    const roomy = await startGrpcFront({
      listen: '127.0.0.1:0',
      forwarder,
      inner: { connect: () => http2.connect('http://localhost', { createConnection: () => net.connect(socket) }) },
      log: silentLogger(),
      maxInFlight: 100,
      maxRequestBytes: 4096,
      limits: { requestBodyTimeoutMs: 300, maxStreamsPerConnection: 4, maxBufferedBytes: 10 * 1024 },
    });
    const session = http2.connect(`http://${roomy.address}`);
    try {
      await new Promise((r) => session.once('remoteSettings', r));
      assert.equal(session.remoteSettings.maxConcurrentStreams, 4);
      // 3 KiB partial bodies on 4 connections: past 10 KiB buffered, the fourth is refused.
      const sessions = [session, ...Array.from({ length: 3 }, () => http2.connect(`http://${roomy.address}`))];
      const codes = await Promise.all(
        sessions.map(
          (sess, i) =>
            new Promise<string | undefined>((resolve) => {
              const s = sess.request({ ':method': 'POST', ':path': '/authmesh.token.v1.TokenService/AcquireToken', 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
              let code: string | undefined;
              s.on('error', () => undefined);
              s.on('response', (h) => (code ??= h['grpc-status'] as string | undefined));
              s.on('close', () => resolve(code));
              setTimeout(() => s.write(Buffer.concat([Buffer.from([0, 0, 0, 0x0f, 0]), Buffer.alloc(3 * 1024)])), i * 30);
            }),
        ),
      );
      assert.equal(codes.filter((c) => c === String(status.RESOURCE_EXHAUSTED)).length, 1, `codes: ${codes.join(',')}`);
      assert.equal(codes.filter((c) => c === String(status.DEADLINE_EXCEEDED)).length, 3, `codes: ${codes.join(',')}`);
      for (const s of sessions.slice(1)) s.close();
    } finally {
      session.close();
      await roomy.close(100);
    }
  });

  it('refuses a request over the size limit without forwarding it, and inflates a gzip request', async () => {
    const big = await acquire(client, new Metadata(), 5000, { ...REQUEST, clientAssertion: 'x'.repeat(5000) });
    assert.equal(big.err?.code, status.RESOURCE_EXHAUSTED);
    assert.equal(forwarder.seen.length, 0);
    const gzipClient = new TokenServiceClient(front.address, credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 });
    try {
      const o = await acquire(gzipClient, new Metadata(), 5000, { ...REQUEST, clientAssertion: 'y'.repeat(2000) });
      assert.equal(o.res?.accessToken, 'token-1');
      assert.equal(AcquireTokenRequest.decode(forwarder.seen[0]!.bytes).clientAssertion, 'y'.repeat(2000));
    } finally {
      gzipClient.close();
    }
  });

  it('relays every other service to the inner server: health check, watch stream and unknown methods', async () => {
    const health = new Health(front.address, credentials.createInsecure());
    try {
      const check = await new Promise<{ status?: string | number }>((resolve, reject) =>
        health.check({ service: TOKEN_SERVICE_NAME }, (e, r) => (e ? reject(e) : resolve(r!))),
      );
      assert.equal(check.status, 'SERVING');
      const watched = await new Promise<string | number | undefined>((resolve, reject) => {
        const w = health.watch({ service: TOKEN_SERVICE_NAME });
        w.on('data', (r: { status?: string | number }) => {
          resolve(r.status);
          w.cancel();
        });
        w.on('error', (e: ServiceError) => (e.code === status.CANCELLED ? undefined : reject(e)));
      });
      assert.equal(watched, 'SERVING');
      const unknown = await new Promise<ServiceError>((resolve) => health.check({ service: 'no.such.Service' }, (e) => resolve(e!)));
      assert.equal(unknown.code, status.NOT_FOUND);
    } finally {
      health.close();
    }
  });

  it('answers malformed calls precisely and keeps serving', async () => {
    const session = http2.connect(`http://${front.address}`);
    const call = (headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<http2.IncomingHttpHeaders> =>
      new Promise((resolve) => {
        const s = session.request({ ':method': 'POST', ':path': '/authmesh.token.v1.TokenService/AcquireToken', ...headers });
        let last: http2.IncomingHttpHeaders = {};
        s.on('response', (h) => (last = h));
        s.on('trailers', (t) => (last = { ...last, ...t }));
        s.on('data', () => undefined);
        s.on('close', () => resolve(last));
        s.end(body);
      });
    try {
      assert.equal((await call({ 'content-type': 'text/plain' }, Buffer.from('hi')))[':status'], 415);
      const two = Buffer.concat([Buffer.from([0, 0, 0, 0, 1, 7]), Buffer.from([0, 0, 0, 0, 1, 7])]);
      const g = { 'content-type': 'application/grpc' };
      for (const body of [two, Buffer.from([0, 0]), Buffer.from([0, 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]), Buffer.from([7, 0, 0, 0, 1, 8])]) {
        const answer = await call(g, body);
        assert.equal(answer['grpc-status'], String(status.INVALID_ARGUMENT), `body ${body.toString('hex')}`);
        assert.equal(answer['oauth-error'], 'invalid_request', `body ${body.toString('hex')}`);
      }
      assert.equal(forwarder.seen.length, 0);
      assert.equal((await acquire(client)).res?.accessToken, 'token-1');
    } finally {
      session.close();
    }
  });

  it('reads grpc-timeout in every unit and the message framing rules', () => {
    assert.equal(parseGrpcTimeout('2S', 1000), 3000);
    assert.equal(parseGrpcTimeout('1500m', 0), 1500);
    assert.equal(parseGrpcTimeout('1M', 0), 60_000);
    assert.equal(parseGrpcTimeout('1H', 0), 3_600_000);
    assert.equal(parseGrpcTimeout('2000u', 0), 2);
    assert.equal(parseGrpcTimeout('123456789S', 0), undefined, 'at most 8 digits');
    assert.equal(parseGrpcTimeout('5x', 0), undefined);
    assert.equal(parseGrpcTimeout(undefined, 0), undefined);
    assert.deepEqual(readMessage(Buffer.from([0, 0, 0, 0, 2, 8, 1]), undefined, 100), Buffer.from([8, 1]));
    assert.equal((readMessage(Buffer.from([2, 0, 0, 0, 0]), undefined, 100) as { code: number }).code, status.INTERNAL);
    assert.equal((readMessage(Buffer.from([1, 0, 0, 0, 1, 0]), 'snappy', 100) as { code: number }).code, status.UNIMPLEMENTED);
  });
});
