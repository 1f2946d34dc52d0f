import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { CLIENT_PREFACE, ErrorCode, Flag, FrameType, Setting } from '../../../lib/http2/frames.js';
import { encodeFields } from '../../../lib/http2/hpack.js';
import type { ConnectionLimits } from '../../../lib/http2/server-connection.js';
import { listenHttp2, type RunningHttp2Server } from '../../../lib/http2/server.js';
import type { ServerStream } from '../../../lib/http2/server-stream.js';
import { RawH2 } from '../../support/raw-h2.js';

/** A request's header block as a gRPC client sends it, literals only. */
function requestBlock(path = '/echo.Echo/Call', extra: string[] = []): Buffer {
  return encodeFields([':method', 'POST', ':scheme', 'http', ':path', path, ':authority', '127.0.0.1', 'content-type', 'application/grpc', 'te', 'trailers', ...extra]);
}

/**
 * Echo server: answers each request after its END_STREAM with status 200, the request body
 * back, and trailers counting the bytes; `held` streams are kept open unanswered.
 */
async function echoServer(limits: Partial<ConnectionLimits> = {}, hold = false): Promise<{ server: RunningHttp2Server; held: ServerStream[]; errors: unknown[] }> {
  const held: ServerStream[] = [];
  const errors: unknown[] = [];
  const server = await listenHttp2({
    listen: '127.0.0.1:0',
    limits,
    onStream: (stream) => {
      const chunks: Buffer[] = [];
      stream.ondata = (c) => chunks.push(c);
      stream.onend = () => {
        if (hold) {
          held.push(stream);
          return;
        }
        const body = Buffer.concat(chunks);
        stream.respond([':status', '200', 'content-type', 'application/grpc']);
        stream.write(body);
        stream.end(['grpc-status', '0', 'x-bytes', String(body.length)]);
      };
    },
    onError: (err) => errors.push(err),
  });
  return { server, held, errors };
}

describe('HTTP/2 server connection (lib/http2) against raw frames', function () {
  let running: Awaited<ReturnType<typeof echoServer>> | undefined;
  const clients: RawH2[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await running?.server.close(0);
    if (running !== undefined) assert.deepEqual(running.errors, []);
    running = undefined;
  });
  const start = async (limits: Partial<ConnectionLimits> = {}, hold = false): Promise<number> => {
    running = await echoServer(limits, hold);
    return running.server.port;
  };
  const connect = async (port: number, handshake = true, settings: ReadonlyArray<readonly [number, number]> = []): Promise<RawH2> => {
    const c = await RawH2.connect(port, handshake, settings);
    clients.push(c);
    return c;
  };

  it('answers a request: headers, the body in DATA, trailers with END_STREAM, after its SETTINGS and the SETTINGS ack', async () => {
    const c = await connect(await start());
    await c.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0, 'server SETTINGS');
    c.sendFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock());
    c.sendFrame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.from('hello'));
    const trailers = await c.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0, 'trailers');
    assert.ok(c.frames.some((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0), 'our SETTINGS acknowledged');
    const onStream = c.frames.filter((f) => f.streamId === 1);
    assert.equal(onStream[0]!.type, FrameType.HEADERS);
    assert.equal(c.headersOf(onStream[0]!)[':status'], '200');
    assert.equal(Buffer.concat(onStream.filter((f) => f.type === FrameType.DATA).map((f) => f.payload)).toString(), 'hello');
    assert.deepEqual(c.headersOf(trailers), { 'grpc-status': '0', 'x-bytes': '5' });
  });

  it('closes a connection that does not start with the client preface, with GOAWAY PROTOCOL_ERROR', async () => {
    const c = await connect(await start(), false);
    c.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.equal((await c.goaway()).code, ErrorCode.PROTOCOL_ERROR);
    await c.waitClosed();
  });

  it('requires SETTINGS as the first frame after the preface', async () => {
    const c = await connect(await start(), false);
    c.send(CLIENT_PREFACE);
    c.sendFrame(FrameType.PING, 0, 0, Buffer.alloc(8));
    assert.equal((await c.goaway()).code, ErrorCode.PROTOCOL_ERROR);
  });

  it('closes a connection that never completes its handshake within the handshake timeout', async () => {
    const c = await connect(await start({ handshakeTimeoutMs: 200 }), false);
    c.send(CLIENT_PREFACE.subarray(0, 10));
    await c.waitClosed();
  });

  it('refuses a frame larger than SETTINGS_MAX_FRAME_SIZE with FRAME_SIZE_ERROR', async () => {
    const c = await connect(await start());
    c.sendFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock());
    c.sendFrame(FrameType.DATA, 0, 1, Buffer.alloc(16_385));
    assert.equal((await c.goaway()).code, ErrorCode.FRAME_SIZE_ERROR);
  });

  it('refuses a stream id a client cannot open (even) and DATA on an idle stream with PROTOCOL_ERROR', async () => {
    const port = await start();
    const even = await connect(port);
    even.sendFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 2, requestBlock());
    assert.equal((await even.goaway()).code, ErrorCode.PROTOCOL_ERROR);
    const idle = await connect(port);
    idle.sendFrame(FrameType.DATA, 0, 5, Buffer.from('x'));
    assert.equal((await idle.goaway()).code, ErrorCode.PROTOCOL_ERROR);
  });

  it('ends a header block interrupted by another frame with PROTOCOL_ERROR, and a header block past the limit with ENHANCE_YOUR_CALM', async () => {
    const port = await start({ maxHeaderListSize: 1024 });
    const interrupted = await connect(port);
    const block = requestBlock();
    interrupted.sendFrame(FrameType.HEADERS, 0, 1, block.subarray(0, 10));
    interrupted.sendFrame(FrameType.PING, 0, 0, Buffer.alloc(8));
    assert.equal((await interrupted.goaway()).code, ErrorCode.PROTOCOL_ERROR);
    const flood = await connect(port);
    flood.sendFrame(FrameType.HEADERS, 0, 1, block.subarray(0, 10));
    for (let i = 0; i < 10; i += 1) flood.sendFrame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(1000, 0x40));
    assert.equal((await flood.goaway()).code, ErrorCode.ENHANCE_YOUR_CALM);
  });

  it('answers a header list larger than SETTINGS_MAX_HEADER_LIST_SIZE with RESOURCE_EXHAUSTED and keeps the connection', async () => {
    const c = await connect(await start({ maxHeaderListSize: 512 }));
    c.sendFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, requestBlock('/echo.Echo/Call', ['x-big', 'v'.repeat(600)]));
    const answer = await c.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 1, 'answer on stream 1');
    assert.equal(c.headersOf(answer)['grpc-status'], '8');
    c.sendFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, requestBlock());
    const next = await c.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 3 && (f.flags & Flag.END_STREAM) !== 0, 'answer on stream 3');
    assert.equal(c.headersOf(next)['grpc-status'], '0');
  });

  it('resets a malformed request (pseudo-header after a regular field, missing :path, connection header) with PROTOCOL_ERROR and serves the next', async () => {
    const c = await connect(await start());
    c.sendFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, encodeFields(['content-type', 'application/grpc', ':method', 'POST', ':scheme', 'http', ':path', '/a']));
    c.sendFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3, encodeFields([':method', 'POST', ':scheme', 'http']));
    c.sendFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 5, requestBlock('/a', ['connection', 'keep-alive']));
    c.sendFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 7, requestBlock());
    for (const id of [1, 3, 5]) assert.equal(await c.reset(id), ErrorCode.PROTOCOL_ERROR, `stream ${id}`);
    await c.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 7 && (f.flags & Flag.END_STREAM) !== 0, 'answer on stream 7');
  });

  it('refuses streams past SETTINGS_MAX_CONCURRENT_STREAMS with REFUSED_STREAM', async () => {
    const c = await connect(await start({ maxConcurrentStreams: 2 }, true));
    for (const id of [1, 3, 5]) c.sendFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, requestBlock());
    assert.equal(await c.reset(5), ErrorCode.REFUSED_STREAM);
    assert.equal(c.frames.some((f) => f.type === FrameType.RST_STREAM && (f.streamId === 1 || f.streamId === 3)), false);
    assert.equal(running!.held.length, 2);
  });

  it('ends a connection that keeps opening streams past the limit (each refused) with ENHANCE_YOUR_CALM', async () => {
    const c = await connect(await start({ maxConcurrentStreams: 1, maxIdleFramesPerSecond: 20 }, true));
    for (let id = 1; id < 2 * 40; id += 2) c.sendFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, requestBlock());
    assert.equal((await c.goaway()).code, ErrorCode.ENHANCE_YOUR_CALM);
    assert.equal(await c.reset(3), ErrorCode.REFUSED_STREAM);
  });

  it('ends a connection that resets more streams per second than allowed with ENHANCE_YOUR_CALM (rapid reset)', async () => {
    const c = await connect(await start({ maxResetsPerSecond: 20 }, true));
    for (let id = 1; id < 2 * 30; id += 2) {
      c.sendFrame(FrameType.HEADERS, Flag.END_HEADERS, id, requestBlock());
      c.sendFrame(FrameType.RST_STREAM, 0, id, Buffer.from([0, 0, 0, ErrorCode.CANCEL]));
    }
    assert.equal((await c.goaway()).code, ErrorCode.ENHANCE_YOUR_CALM);
  });

  it('ends a connection flooded with PINGs past the limit with ENHANCE_YOUR_CALM, answering the ones before', async () => {
    const c = await connect(await start({ maxIdleFramesPerSecond: 50 }));
    for (let i = 0; i < 100; i += 1) c.sendFrame(FrameType.PING, 0, 0, Buffer.from([0, 0, 0, 0, 0, 0, 0, i]));
    assert.equal((await c.goaway()).code, ErrorCode.ENHANCE_YOUR_CALM);
    const acks = c.frames.filter((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0);
    assert.ok(acks.length >= 40, `${acks.length} PINGs acknowledged`);
    assert.equal(acks[3]!.payload[7], 3, 'an ACK carries the PING payload');
  });

  it('holds the answer to the caller\'s window: a 100-byte body against a 10-byte stream window comes as WINDOW_UPDATEs open it, trailers last', async () => {
    const c = await connect(await start(), true, [[Setting.INITIAL_WINDOW_SIZE, 10]]);
    c.sendFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, requestBlock());
    const body = Buffer.alloc(100, 7);
    c.sendFrame(FrameType.DATA, Flag.END_STREAM, 1, body);
    await c.waitFor((f) => f.type === FrameType.DATA && f.streamId === 1, 'first DATA');
    const received = (): number => c.frames.filter((f) => f.type === FrameType.DATA && f.streamId === 1).reduce((n, f) => n + f.payload.length, 0);
    assert.equal(received(), 10);
    for (let i = 0; i < 9; i += 1) {
      c.sendFrame(FrameType.WINDOW_UPDATE, 0, 1, Buffer.from([0, 0, 0, 10]));
      await c.waitFor(() => received() === 20 + i * 10, `${20 + i * 10} bytes`);
      assert.equal(c.frames.some((f) => f.type === FrameType.HEADERS && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0), i === 8, 'trailers only after the last byte');
    }
    await c.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0, 'trailers');
  });

  it('refuses a window past 2^31-1 with FLOW_CONTROL_ERROR and a WINDOW_UPDATE of 0 with PROTOCOL_ERROR', async () => {
    const port = await start();
    const over = await connect(port);
    over.sendFrame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.from([0x7f, 0xff, 0xff, 0xff]));
    assert.equal((await over.goaway()).code, ErrorCode.FLOW_CONTROL_ERROR);
    const zero = await connect(port);
    zero.sendFrame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(4));
    assert.equal((await zero.goaway()).code, ErrorCode.PROTOCOL_ERROR);
  });

  it('shuts down gracefully: GOAWAY refusing nothing, a PING, then GOAWAY naming the last stream; open streams are answered', async () => {
    const port = await start({}, true);
    const c = await connect(port);
    c.sendFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, requestBlock());
    await waitUntil(() => running!.held.length === 1);
    const closing = running!.server.close(5000);
    const first = await c.goaway();
    assert.equal(first.lastStreamId, 2 ** 31 - 1);
    const ping = await c.waitFor((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) === 0, 'PING');
    c.sendFrame(FrameType.PING, Flag.ACK, 0, ping.payload);
    await c.waitFor((f) => f.type === FrameType.GOAWAY && (f.payload.readUInt32BE(0) & 0x7fffffff) === 1, 'second GOAWAY naming stream 1');
    const held = running!.held[0]!;
    held.respond([':status', '200', 'content-type', 'application/grpc'], false);
    held.end(['grpc-status', '0']);
    await c.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0, 'the held answer');
    await closing;
    await c.waitClosed();
  });

  it('never crashes on random frames after a valid handshake: each connection ends with GOAWAY or keeps answering', async () => {
    const port = await start();
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const codes = new Map<number, number>();
    for (let round = 0; round < 60; round += 1) {
      const c = await connect(port);
      for (let i = 0; i < 20; i += 1) {
        const payload = Buffer.alloc(random(40));
        for (let k = 0; k < payload.length; k += 1) payload[k] = random(256);
        c.sendFrame(random(11), random(256), random(8), payload);
      }
      c.sendFrame(FrameType.PING, 0, 0, Buffer.alloc(8, 1));
      await c.waitFor((f) => f.type === FrameType.GOAWAY || (f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0 && f.payload[0] === 1), 'GOAWAY or the last PING answered');
      const g = c.frames.find((f) => f.type === FrameType.GOAWAY);
      if (g !== undefined) codes.set(g.payload.readUInt32BE(4), (codes.get(g.payload.readUInt32BE(4)) ?? 0) + 1);
      c.close();
    }
    console.log(`      random frames: GOAWAY codes ${JSON.stringify([...codes])}`);
    assert.ok(codes.size > 0);
    const ok = await connect(port);
    ok.sendFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, requestBlock());
    await ok.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0, 'an answer after the fuzzing');
  });

  it('serves node:http2 clients: 200 calls over one connection, 20 at a time, with bodies up to 200 KiB and many headers', async () => {
    const port = await start();
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const call = (i: number): Promise<{ body: Buffer; trailers: http2.IncomingHttpHeaders }> =>
        new Promise((resolve, reject) => {
          const req = session.request({ ':method': 'POST', ':path': '/echo.Echo/Call', 'content-type': 'application/grpc', te: 'trailers', 'x-index': String(i), 'x-pad': 'p'.repeat(i % 300) });
          const chunks: Buffer[] = [];
          let trailers: http2.IncomingHttpHeaders = {};
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('trailers', (t) => {
            trailers = t;
          });
          req.on('end', () => resolve({ body: Buffer.concat(chunks), trailers }));
          req.on('error', reject);
          req.end(Buffer.alloc((i * 1031) % (200 * 1024), i % 256));
        });
      // 20 at a time: node's client itself refuses streams past its session memory (10 MB of unsent bodies).
      const results: Array<{ body: Buffer; trailers: http2.IncomingHttpHeaders }> = [];
      for (let batch = 0; batch < 10; batch += 1) results.push(...(await Promise.all(Array.from({ length: 20 }, (_, k) => call(batch * 20 + k)))));
      results.forEach((r, i) => {
        assert.equal(r.body.length, (i * 1031) % (200 * 1024), `call ${i}`);
        assert.equal(r.trailers['x-bytes'], String(r.body.length));
        if (r.body.length > 0) assert.equal(r.body[r.body.length - 1], i % 256);
      });
    } finally {
      session.destroy();
    }
  });
});

async function waitUntil(cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
}

