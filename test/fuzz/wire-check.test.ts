import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AcquireTokenRequest, GetJwksRequest } from '../../gen/authmesh/token/v1/token.js';
import { decodesAsStringMessage } from '../../lib/grpc/wire-check.js';
import { fuzzParams, fuzzTimeout, malformedMessage, tag, varint } from './arbitraries.js';

/** Whether the generated decoder of a message takes the bytes. */
const decodes = (decode: (b: Uint8Array) => unknown, bytes: Uint8Array): boolean => {
  try {
    decode(bytes);
    return true;
  } catch {
    return false;
  }
};

const VALID = Buffer.from(
  AcquireTokenRequest.encode({ tenantId: 't-1', clientId: 'c-1', scope: 'api://r/.default', clientAssertion: 'a.b.c', clientAssertionType: 'urn:x', clientSecret: '' }).finish(),
);

/** Shapes the random arbitraries rarely reach: every wire type, groups nested and unbalanced, ends of input. */
const handMade: Buffer[] = [
  Buffer.alloc(0),
  Buffer.from([0x00]),
  Buffer.from([0x0c]),
  Buffer.concat([tag(1, 0), Buffer.alloc(10, 0xff), Buffer.from([0x01])]),
  Buffer.concat([tag(1, 0), Buffer.alloc(9, 0xff), Buffer.from([0x01])]),
  Buffer.concat([Buffer.alloc(10, 0xff), Buffer.from([0x01])]),
  Buffer.concat([Buffer.alloc(9, 0xff), Buffer.from([0x01])]),
  Buffer.concat([tag(2, 2), Buffer.alloc(10, 0x80), Buffer.from([0x00])]),
  Buffer.concat([tag(2, 2), Buffer.alloc(9, 0x80), Buffer.from([0x00])]),
  Buffer.concat([tag(1, 1), Buffer.alloc(8)]),
  Buffer.concat([tag(1, 1), Buffer.alloc(7)]),
  Buffer.concat([tag(1, 5), Buffer.alloc(4)]),
  Buffer.concat([tag(1, 5), Buffer.alloc(3)]),
  Buffer.concat([tag(1, 6)]),
  Buffer.concat([tag(1, 7)]),
  Buffer.concat([tag(7, 3), tag(8, 0), varint(5), tag(7, 4)]),
  Buffer.concat([tag(7, 3), tag(8, 3), tag(8, 4), tag(7, 4)]),
  Buffer.concat([tag(7, 3), tag(8, 3), tag(9, 4), tag(7, 4)]),
  Buffer.concat([tag(7, 3), tag(7, 4), VALID]),
  Buffer.concat([tag(7, 3), Buffer.from([0x00])]),
  Buffer.concat([tag(7, 3), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x10])]),
  Buffer.concat([tag(7, 3), Buffer.from([0x80, 0x80, 0x80, 0x80, 0x0f])]),
  Buffer.concat(Array.from({ length: 100 }, () => tag(7, 3)).concat(Array.from({ length: 100 }, () => tag(7, 4)))),
  Buffer.concat(Array.from({ length: 101 }, () => tag(7, 3)).concat(Array.from({ length: 101 }, () => tag(7, 4)))),
  Buffer.concat([VALID, tag(1, 4), Buffer.from([0xff, 0xff])]),
  Buffer.concat([VALID, Buffer.from([0x00, 0xff])]),
  Buffer.concat([varint(2 ** 32 - 1)]),
  Buffer.concat([varint(2 ** 32 + 10)]),
  Buffer.concat([tag(2, 2), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])]),
];

/** Bytes that end inside or just past a field: every prefix of the message and of a damaged one. */
const prefixes = (b: Buffer): Buffer[] => Array.from({ length: b.length + 1 }, (_, i) => b.subarray(0, i));

describe('wire check: the same answer as the generated decoders', function () {
  this.timeout(fuzzTimeout(3000, 2));
  const messages = [
    { name: 'AcquireTokenRequest', decode: (b: Uint8Array) => AcquireTokenRequest.decode(b) },
    { name: 'GetJwksRequest', decode: (b: Uint8Array) => GetJwksRequest.decode(b) },
  ];

  for (const m of messages) {
    it(`accepts and refuses exactly the bytes ${m.name}.decode accepts and refuses`, () => {
      const check = (bytes: Uint8Array): void =>
        assert.equal(decodesAsStringMessage(bytes), decodes(m.decode, bytes), `${m.name} on ${Buffer.from(bytes).toString('hex')}`);
      for (const b of [...handMade, ...prefixes(VALID), ...handMade.flatMap(prefixes)]) check(b);
      let refused = 0;
      fc.assert(
        fc.property(fc.oneof(malformedMessage(VALID), fc.uint8Array({ maxLength: 64 })), (bytes) => {
          if (!decodes(m.decode, bytes)) refused += 1;
          check(bytes);
        }),
        fuzzParams(3000),
      );
      // The property means something only if both answers came up.
      assert.ok(refused > 0, 'no refused bytes generated');
    });
  }
});
