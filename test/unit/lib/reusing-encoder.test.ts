import assert from 'node:assert/strict';
import { RelayResponse } from '../../../gen/authmesh/relay/v1/relay.js';
import { reusingEncoder } from '../../../lib/grpc/reusing-encoder.js';

const response = (id: number, size: number): RelayResponse => ({
  id,
  code: id % 3,
  details: id % 2 === 0 ? '' : `details of ${id}`,
  message: Buffer.alloc(size, id % 251),
  trailers: { 'authmesh-data-age-ms': String(id * 7) },
  more: [],
});

describe('reusing message encoder', () => {
  it('encodes each message as ts-proto does, into bytes no later message overwrites', () => {
    const encode = reusingEncoder(RelayResponse);
    // Growing, shrinking and past the size at which the writer is dropped, all kept until the end.
    const sizes = [10, 700, 3, 5000, 700, 70_000, 12, 900];
    const sent = sizes.map((size, i) => response(i + 1, size));
    const out = sent.map((m) => encode(m));
    out.forEach((bytes, i) => {
      assert.ok(Buffer.isBuffer(bytes));
      assert.deepEqual(bytes, Buffer.from(RelayResponse.encode(sent[i]!).finish()), `message ${i} differs from a fresh writer's`);
      const back = RelayResponse.decode(bytes);
      assert.equal(back.id, sent[i]!.id);
      assert.deepEqual(Buffer.from(back.message), Buffer.from(sent[i]!.message));
      assert.deepEqual(back.trailers, sent[i]!.trailers);
    });
  });

  it('starts clean after a message that failed half-way', () => {
    const encode = reusingEncoder(RelayResponse);
    encode(response(1, 100));
    // The id is written before the bad field throws, leaving the writer mid-message.
    const bad = { ...response(2, 100), details: 5 as unknown as string, trailers: { k: 7 as unknown as string }, code: 'x' as unknown as number };
    assert.throws(() => encode(bad));
    const next = response(3, 300);
    assert.deepEqual(encode(next), Buffer.from(RelayResponse.encode(next).finish()));
  });
});
