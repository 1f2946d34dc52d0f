import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { Client, credentials, Metadata } from '@grpc/grpc-js';
import fc from 'fast-check';
import { RelayRequest } from '../../gen/authmesh/relay/v1/relay.js';
import { AcquireTokenRequest } from '../../gen/authmesh/token/v1/token.js';
import { ASSERTION_TYPE, buildAssertion } from '../../lib/token/index.js';
import { acquire, type TestWorkload } from '../support/mesh-harness.js';
import { SCOPE, startHttpMesh, type HttpMesh } from '../integration/gateway-http/http-mesh.js';
import { fuzzParams, fuzzTimeout, hostileString } from './arbitraries.js';

/** A signed JWT anywhere in the bytes: what no damaged input may ever be answered with. */
const JWT = /eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/;
const ACQUIRE = '/authmesh.token.v1.TokenService/AcquireToken';

/** A gRPC message frame: compression flag, declared length (maybe a lie), body. */
const grpcFrame = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 0xffffffff })), fc.uint8Array({ maxLength: 512 })).map(([flag, declared, body]) => {
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(declared === -1 ? body.length : declared, 1);
  return Buffer.concat([head, Buffer.from(body)]);
});

/** Request headers of a gRPC call, each one possibly wrong. */
const grpcHeaders = fc.record({
  ':path': fc.oneof(fc.constant(ACQUIRE), fc.constant('/authmesh.token.v1.TokenService/GetJwks'), fc.constant('/authmesh.relay.v1.TokenRelayService/Relay'), hostileString.map((s) => `/${[...Buffer.from(s)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`)),
  'content-type': fc.constantFrom('application/grpc', 'application/grpc+proto', 'application/json', 'text/plain', 'application/grpc; x=' + 'y'.repeat(300)),
  'grpc-encoding': fc.constantFrom('identity', 'gzip', 'deflate', 'snappy', 'x'.repeat(200)),
  'grpc-timeout': fc.constantFrom('1S', '100m', '99999999H', '-1S', 'abc', '0n', '1u'),
  te: fc.constantFrom('trailers', 'gzip'),
  'x-filler': fc.constantFrom('', 'a'.repeat(1000), 'b'.repeat(16_000)),
});

interface RawAnswer {
  headers: Record<string, unknown>;
  trailers: Record<string, unknown>;
  data: Buffer;
  error?: string;
}

/** One raw HTTP/2 request on its own session; never throws, gives up after 3 s. */
function rawHttp2(address: string, headers: Record<string, string>, frames: Buffer[]): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const out: RawAnswer = { headers: {}, trailers: {}, data: Buffer.alloc(0) };
    const session = http2.connect(`http://${address}`);
    const done = (error?: string): void => {
      clearTimeout(timer);
      if (error !== undefined) out.error = error;
      session.destroy();
      resolve(out);
    };
    const timer = setTimeout(() => done('no answer in 3 s'), 3000);
    session.on('error', (err) => done(err.message));
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request({ ':method': 'POST', ...headers });
    } catch (err) {
      done((err as Error).message);
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (out.headers = h));
    stream.on('trailers', (t) => (out.trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', (err) => done(err.message));
    stream.on('close', () => {
      out.data = Buffer.concat(chunks);
      done();
    });
    for (const f of frames) stream.write(f);
    stream.end();
  });
}

/**
 * Fuzzing against spawned processes: the gateway's public gRPC front with malformed HTTP/2 calls
 * (paths, content types, encodings, timeouts, huge headers, lying length prefixes, compression
 * flags), regional's relay stream with damaged frames, and the HTTPS token endpoint with
 * malformed forms. Never a crash, never a token.
 */
describe('fuzz: spawned gateway and regional processes', function () {
  this.timeout(fuzzTimeout(300, 150));
  let h: HttpMesh;
  let w: TestWorkload;

  before(async () => {
    h = await startHttpMesh();
    const c = h.certWorkload;
    const { assertion } = await buildAssertion({ tenantId: c.tenantId, clientId: c.clientId, issuer: h.base, privateKey: c.privateKey, lifetimeSeconds: 3600 });
    w = { ...c, assertion };
  });

  after(async () => {
    await h?.close();
  });

  /** Every process is running and the gateway still issues to a good request. */
  const assertAlive = async (): Promise<void> => {
    for (const [name, p] of h.mesh.procs) assert.equal(p.child.exitCode, null, `${name} exited:\n${p.output.slice(-10).join('\n')}`);
    const good = await acquire(h.mesh.tokenClient('gateway-eastus'), w);
    assert.ok(good.response !== undefined, `a good request failed after fuzzing: ${good.error?.details}`);
  };

  afterEach(assertAlive);

  it('issues to the good request on every front (the properties below are not vacuous)', async () => {
    await assertAlive();
    // The raw HTTP/2 path used below sees a token when there is one.
    const body = Buffer.from(AcquireTokenRequest.encode({ tenantId: w.tenantId, clientId: w.clientId, scope: SCOPE, clientAssertion: w.assertion, clientAssertionType: ASSERTION_TYPE, clientSecret: '' }).finish());
    const head = Buffer.alloc(5);
    head.writeUInt32BE(body.length, 1);
    const out = await rawHttp2(h.mesh.address('gateway-eastus'), { ':path': ACQUIRE, 'content-type': 'application/grpc', te: 'trailers' }, [Buffer.concat([head, body])]);
    assert.equal(String(out.trailers['grpc-status']), '0', out.error);
    assert.match(out.data.toString('latin1'), JWT);
  });

  it('answers malformed HTTP/2 gRPC calls on the gateway front without a token or a crash', async () => {
    await fc.assert(
      fc.asyncProperty(grpcHeaders, fc.array(grpcFrame, { maxLength: 3 }), async (headers, frames) => {
        const plain = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== ''));
        const out = await rawHttp2(h.mesh.address('gateway-eastus'), plain, frames);
        assert.doesNotMatch(out.data.toString('latin1'), JWT, `a token for ${JSON.stringify(headers).slice(0, 200)}`);
        const grpcStatus = out.trailers['grpc-status'] ?? out.headers['grpc-status'];
        if (headers[':path'] === ACQUIRE) assert.notEqual(String(grpcStatus), '0', 'a damaged AcquireToken call succeeded');
      }),
      fuzzParams(150),
    );
  });

  it('answers damaged relay frames on regional without a token or a crash', async () => {
    const frame = fc.oneof(
      fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
      fc
        .record({
          id: fc.nat(),
          method: fc.oneof(fc.constantFrom(ACQUIRE, '/authmesh.token.v1.TokenService/GetJwks', ''), hostileString),
          message: fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
          timeoutMs: fc.constantFrom(0, 1, 100, 2000, 0xffffffff),
          metadata: fc.dictionary(fc.constantFrom('authorization', 'grpc-timeout', 'x-b-bin', ':path', 'traceparent'), hostileString, { maxKeys: 3 }),
          cancel: fc.boolean(),
        })
        .map((r) => Buffer.from(RelayRequest.encode(r).finish())),
    );
    const relay = new Client(h.mesh.address('regional-eastus'), credentials.createInsecure());
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 5 }), async (frames) => {
          const answers = await new Promise<Buffer[]>((resolve) => {
            const got: Buffer[] = [];
            const call = relay.makeBidiStreamRequest<Buffer, Buffer>('/authmesh.relay.v1.TokenRelayService/Relay', (b) => b, (b) => b, new Metadata(), { deadline: Date.now() + 3000 });
            call.on('data', (b: Buffer) => got.push(b));
            call.on('error', () => resolve(got));
            call.on('end', () => resolve(got));
            for (const f of frames) call.write(f);
            call.end();
          });
          for (const a of answers) assert.doesNotMatch(a.toString('latin1'), JWT, 'a relay frame was answered with a token');
        }),
        fuzzParams(100),
      );
    } finally {
      relay.close();
    }
  });

  it('refuses malformed token forms on the HTTPS front: bad percent-encoding, huge and repeated fields, never a token', async () => {
    const piece = fc.oneof(
      hostileString,
      fc.constantFrom('%', '%z', '%zz', '%E0%A4%A', '%C0%AF', '%00', '%FF%FE', '+', '&', '=', '==', 'grant_type=client_credentials', `scope=${encodeURIComponent(SCOPE)}`,
        'client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer', `client_id=${h?.certWorkload.clientId ?? ''}`, 'client_assertion=eyJhbGciOiJub25lIn0.e30.', 'client_secret=' + 'x'.repeat(600)),
      fc.constantFrom('a'.repeat(70_000), `client_id=${'c'.repeat(5000)}`),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(piece, { maxLength: 8 }), fc.constantFrom('application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=latin1', 'text/plain'), async (pieces, type) => {
        let status: number;
        let text: string;
        try {
          const res = await h.fetch(h.tokenUrl, { method: 'POST', headers: { 'content-type': type }, body: pieces.join('&') });
          status = res.status;
          text = await res.text();
        } catch (err) {
          // The front may cut an oversized upload off; it must still be running (afterEach).
          assert.match(String((err as Error).cause ?? err), /socket|closed|reset|EPIPE|terminated/i);
          return;
        }
        assert.notEqual(status, 200, `a token for ${pieces.join('&').slice(0, 200)}`);
        assert.doesNotMatch(text, JWT);
        assert.ok(status >= 400 && status < 500, `status ${status}: ${text.slice(0, 200)}`);
        assert.ok(typeof (JSON.parse(text) as { error?: unknown }).error === 'string', text.slice(0, 200));
      }),
      fuzzParams(150),
    );
  });
});
