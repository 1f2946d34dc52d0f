import assert from 'node:assert/strict';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { LeanUnaryClient } from '../../../bench/lean-client.js';
import { frame } from '../../../lib/grpc/framing.js';

const ECHO = '/test.Echo/Echo';
const FAIL = '/test.Echo/Fail';
const identity = (b: Buffer): Buffer => b;
const unary = (path: string) => ({ path, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity });

/** A grpc-js server (a real HTTP/2 peer) echoing each request, or failing with the request's first byte as status. */
async function startServer(options: Record<string, number> = {}): Promise<{ address: string; seen: () => Metadata; stop: () => Promise<void> }> {
  const server = new Server(options);
  let last: Metadata = {};
  server.addService(
    { echo: unary(ECHO), fail: unary(FAIL) },
    {
      echo: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
        last = call.metadata.getMap() as Metadata;
        setTimeout(() => cb(null, Buffer.concat([call.request, call.request])), 2);
      },
      fail: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => cb({ code: call.request[0] ?? status.UNKNOWN, details: 'refused' }),
    },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { address: `127.0.0.1:${port}`, seen: () => last, stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}
type Metadata = Record<string, unknown>;

describe('bench lean HTTP/2 client', () => {
  it('counts an answered call as OK and a status-only reply as failed, over a real grpc-js server', async () => {
    const srv = await startServer();
    const client = new LeanUnaryClient(srv.address, ECHO, 2, { 'x-bench': 'yes' });
    try {
      await client.ready();
      const errors: string[] = [];
      const oks = await Promise.all(Array.from({ length: 50 }, (_, i) => client.send(frame(Buffer.from(`call ${i}`)), errors)));
      assert.deepEqual(errors, []);
      assert.equal(oks.filter(Boolean).length, 50);
      assert.equal(srv.seen()['x-bench'], 'yes', 'the extra header reached the server as metadata');
    } finally {
      client.close();
      await srv.stop();
    }
    const srv2 = await startServer();
    const failing = new LeanUnaryClient(srv2.address, FAIL, 1);
    try {
      await failing.ready();
      const errors: string[] = [];
      assert.equal(await failing.send(frame(Buffer.from([status.PERMISSION_DENIED])), errors), false);
      assert.match(errors[0] ?? '', /trailers-only/);
    } finally {
      failing.close();
      await srv2.stop();
    }
  });

  it('waits for the server\'s flow-control window and stream limit instead of overrunning them', async () => {
    // 200 calls of 12 KiB is 2.4 MB on one connection: far past the 64 KiB windows HTTP/2 starts
    // with, and 200 streams against a limit of 8.
    const srv = await startServer({ 'grpc.max_concurrent_streams': 8 });
    const client = new LeanUnaryClient(srv.address, ECHO, 1);
    try {
      await client.ready();
      const errors: string[] = [];
      const payload = frame(Buffer.alloc(12 * 1024, 7));
      const oks = await Promise.all(Array.from({ length: 200 }, () => client.send(payload, errors)));
      assert.deepEqual(errors, []);
      assert.equal(oks.filter(Boolean).length, 200);
    } finally {
      client.close();
      await srv.stop();
    }
  });

  it('fails the calls in flight when the server goes away, and later calls at once', async () => {
    const srv = await startServer();
    const client = new LeanUnaryClient(srv.address, ECHO, 1);
    await client.ready();
    const errors: string[] = [];
    const inFlight = client.send(frame(Buffer.from('x')), errors);
    client.close();
    assert.equal(await inFlight, false);
    assert.equal(await client.send(frame(Buffer.from('y')), errors), false);
    assert.match(errors.join('\n'), /UNAVAILABLE/);
    await srv.stop();
  });

  it('refuses a target other than 127.0.0.1', () => {
    assert.throws(() => new LeanUnaryClient('10.0.0.1:443', ECHO), /127\.0\.0\.1 only/);
  });
});
