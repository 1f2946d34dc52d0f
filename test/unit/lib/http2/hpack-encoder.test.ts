/** encodeFields: static-table references where they fit, literals without indexing otherwise, never a change to the peer's table. */
import assert from 'node:assert/strict';
import { encodeFields, HpackDecoder } from '../../../../lib/http2/hpack.js';

const latin1 = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

describe('HPACK encodeFields', () => {
  it('writes :status 200 as static entry 8 and content-type as static name 31 with a literal value', () => {
    const block = encodeFields([':status', '200', 'content-type', 'application/grpc']);
    // 0x88: indexed 8. 0x0f 0x10: literal without indexing, name index 15 + 16 = 31. 0x10: 16 octets, no Huffman.
    assert.equal(block.toString('hex'), `88 0f10 10${latin1('application/grpc')}`.replace(/\s/g, ''));
  });

  it('writes a name outside the static table as a literal name without indexing', () => {
    assert.equal(encodeFields(['grpc-status', '0']).toString('hex'), `000b${latin1('grpc-status')}01${latin1('0')}`);
  });

  it('uses the fully indexed static entries for every name and value pair of Appendix A', () => {
    const pairs: Array<[string, string, number]> = [
      [':method', 'GET', 2], [':method', 'POST', 3], [':path', '/', 4], [':path', '/index.html', 5], [':scheme', 'http', 6],
      [':scheme', 'https', 7], [':status', '200', 8], [':status', '204', 9], [':status', '206', 10], [':status', '304', 11],
      [':status', '400', 12], [':status', '404', 13], [':status', '500', 14], ['accept-encoding', 'gzip, deflate', 16],
    ];
    for (const [name, value, index] of pairs) assert.deepEqual([...encodeFields([name, value])], [0x80 | index], `${name}: ${value}`);
  });

  it('round-trips field lists through the decoder and leaves its dynamic table empty', () => {
    let seed = 99;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return Math.floor((seed / 2 ** 32) * n);
    };
    const names = [':status', ':authority', 'content-type', 'grpc-status', 'grpc-message', 'x-a', 'www-authenticate', 'set-cookie', 'via'];
    const d = new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: 1 << 24 });
    for (let round = 0; round < 300; round += 1) {
      const fields: string[] = [];
      for (let i = rand(8); i >= 0; i -= 1) {
        const len = [0, 1, 14, 15, 126, 127, 128, 300, 20_000][rand(9)]!;
        fields.push(names[rand(names.length)]!, Array.from({ length: len }, () => String.fromCharCode(0x21 + rand(0xde))).join(''));
      }
      const out = d.decode(encodeFields(fields));
      assert.deepEqual(out.fields, fields, `round ${round}`);
      assert.deepEqual(d.table(), { entries: [], size: 0 });
    }
  });
});
