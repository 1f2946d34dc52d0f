/** The HPACK decoder on hostile input: compression errors, size limits, malformed fields, and seeded random blocks. */
import assert from 'node:assert/strict';
import { encodeFields, HpackDecoder, HpackError } from '../../../../lib/http2/hpack.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const decoder = (maxTableSize = 4096, maxHeaderListSize = 1 << 20): HpackDecoder => new HpackDecoder({ maxTableSize, maxHeaderListSize });

/** An HPACK string literal without Huffman coding. */
function str(s: string): Buffer {
  const len = Buffer.byteLength(s, 'latin1');
  const prefix = len < 127 ? [len] : [127, ...intTail(len - 127)];
  return Buffer.concat([Buffer.from(prefix), Buffer.from(s, 'latin1')]);
}
function intTail(rest: number): number[] {
  const out: number[] = [];
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}
/** Literal with incremental indexing and a new name (0x40). */
const indexed = (name: string, value: string): Buffer => Buffer.concat([Buffer.from([0x40]), str(name), str(value)]);

/** Blocks that are no valid HPACK: each must end the connection with COMPRESSION_ERROR. */
const COMPRESSION_ERRORS: Array<[string, string, RegExp?]> = [
  ['indexed field with index 0', '80'],
  ['index past the static table with the dynamic table empty', 'be'],
  ['index past the dynamic table', '400161016282 bf'],
  ['literal name index past the tables', '7e 01 61'],
  ['literal without indexing, name index past the tables', '0f 30 01 61'],
  ['integer prefix full and the block ends', 'ff'],
  ['integer continuation flag set on the last octet', 'ff 80'],
  ['integer above 2^31 - 1', 'ff ff ff ff ff 07', /integer too large/],
  // 31 + 1 = 32 is a fine table size, but spelled with six continuation octets.
  ['integer with six continuation octets', '3f 81 80 80 80 80 00'],
  ['integer as a long run of zero continuation octets', `ff ${'80'.repeat(200)} 01`],
  ['string length past the end of the block', '04 05 61 62'],
  ['name string past the end of the block', '00 05 61'],
  ['string length integer past the end', '00 7f'],
  ['value missing after the name index', '04'],
  ['value missing after a literal name', '00 01 61'],
  ['Huffman string holding EOS', '04 84 ff ff ff ff'],
  ['Huffman padding longer than 7 bits', '04 82 1f ff'],
  ['Huffman padding with a 0 bit', '04 81 18'],
  ['table size update above the maximum', '3f e2 1f'],
  ['table size update after a field', '82 20'],
  ['table size update after a literal field', '04 01 61 3f e1 1f'],
  ['table size update with an integer past 2^31', '3f ff ff ff ff 0f'],
];

describe('HPACK decoder on hostile input', () => {
  for (const [what, block, message] of COMPRESSION_ERRORS) {
    it(`throws HpackError: ${what}`, () => {
      assert.throws(() => decoder().decode(hex(block)), (err: unknown) => err instanceof HpackError && (message === undefined || message.test(err.message)));
    });
  }

  it('takes table size updates at the start of a block, evicting to the new size, up to the maximum', () => {
    const d = decoder(4096);
    d.decode(Buffer.concat([indexed('a', '1'), indexed('b', '2')]));
    assert.equal(d.table().size, 68);
    // Two updates in a row (to 34 then 4096): the first evicts 'a'; the block then indexes 'b' as 62.
    const out = d.decode(Buffer.concat([hex('3f 03 3f e1 1f'), hex('be')]));
    assert.deepEqual(out.fields, ['b', '2']);
    assert.deepEqual(d.table(), { entries: [['b', '2']], size: 34 });
    d.decode(hex('20'));
    assert.deepEqual(d.table(), { entries: [], size: 0 });
    assert.throws(() => d.decode(hex('be')), HpackError);
  });

  it('with the table size set to 0 adds nothing, and an entry larger than the table empties it', () => {
    const d = decoder(64);
    d.decode(indexed('a', '1'));
    assert.equal(d.table().entries.length, 1);
    const out = d.decode(indexed('long', 'x'.repeat(40)));
    assert.deepEqual(out.fields, ['long', 'x'.repeat(40)]);
    assert.deepEqual(d.table(), { entries: [], size: 0 });
    d.decode(Buffer.concat([hex('20'), indexed('c', '3')]));
    assert.deepEqual(d.table(), { entries: [], size: 0 });
  });

  it('decodes multi-octet integers: a dynamic index of 61 + 70 and a 300-octet value', () => {
    const d = decoder();
    const parts: Buffer[] = [];
    for (let i = 1; i <= 70; i += 1) parts.push(indexed(`k${i}`, `v${i}`));
    d.decode(Buffer.concat(parts));
    // Index 131 = 127 + 4: the oldest entry, k1.
    assert.deepEqual(d.decode(hex('ff 04')).fields, ['k1', 'v1']);
    const long = 'y'.repeat(300);
    assert.deepEqual(d.decode(Buffer.concat([hex('04'), str(long)])).fields, [':path', long]);
  });

  it('marks a block over maxHeaderListSize tooLarge, yet keeps the table in step for the next block', () => {
    const d = decoder(4096, 200);
    const big = 'z'.repeat(150);
    const first = d.decode(Buffer.concat([indexed('x-small', 'a'), indexed('x-big', big), indexed('x-after', 'b')]));
    assert.equal(first.tooLarge, true);
    assert.ok(first.fields.length < 6);
    // Entries: x-after (62), x-big (63), x-small (64), all indexed though the list was too large.
    const next = d.decode(hex('be c0'));
    assert.equal(next.tooLarge, undefined);
    assert.deepEqual(next.fields, ['x-after', 'b', 'x-small', 'a']);
  });

  it('counts name + value + 32 per field against maxHeaderListSize', () => {
    // ':path' '/a' is 5 + 2 + 32 = 39 octets.
    assert.equal(decoder(4096, 39).decode(Buffer.concat([hex('04'), str('/a')])).tooLarge, undefined);
    assert.equal(decoder(4096, 38).decode(Buffer.concat([hex('04'), str('/a')])).tooLarge, true);
  });

  const MALFORMED: Array<[string, string, string]> = [
    ['uppercase in the name', 'X-Upper', 'v'],
    ['a space in the name', 'x name', 'v'],
    ['a NUL in the name', 'x\0name', 'v'],
    ['DEL in the name', 'x\x7fname', 'v'],
    ['an octet above 0x7f in the name', 'x\xe9', 'v'],
    ['a colon inside the name', 'x:name', 'v'],
    ['an empty name', '', 'v'],
    ['a separator (not a token character) in the name', 'x(name', 'v'],
    ['a lone colon as the name', ':', 'v'],
    ['a NUL in the value', 'x-v', 'a\0b'],
    ['a CR in the value', 'x-v', 'a\rb'],
    ['a LF in the value', 'x-v', 'a\nb'],
    ['a leading space in the value', 'x-v', ' a'],
    ['a trailing tab in the value', 'x-v', 'a\t'],
  ];
  for (const [what, name, value] of MALFORMED) {
    it(`reports a field with ${what} as malformed, the table kept in step`, () => {
      const d = decoder();
      const out = d.decode(Buffer.concat([indexed('x-ok', '1'), indexed(name, value)]));
      assert.equal(typeof out.malformed, 'string');
      assert.deepEqual(out.fields, ['x-ok', '1', name, value]);
      // x-ok is now 63: the next block reads it, and is fine.
      const next = d.decode(hex('bf'));
      assert.deepEqual(next.fields, ['x-ok', '1']);
      assert.equal(next.malformed, undefined);
      // The bad entry itself (62), indexed again, is still malformed.
      assert.equal(typeof d.decode(hex('be')).malformed, 'string');
    });
  }

  it('takes as valid: inner spaces and tabs, an empty value, obs-text octets in a value, token punctuation in a name', () => {
    const out = decoder().decode(
      encodeFields([':path', '/', 'x-a', 'one two\tthree', 'x-empty', '', 'x-latin', 'caf\xe9', "!#$%&'*+-.^_`|~09az", 'v']),
    );
    assert.equal(out.malformed, undefined);
    assert.equal(out.fields.length, 10);
  });

  it('on 20,000 seeded random and mutated blocks throws nothing but HpackError and keeps its table within bounds', () => {
    let seed = 0x5eed;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return Math.floor((seed / 2 ** 32) * n);
    };
    const seeds = [
      hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'),
      hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'),
      hex('88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab'),
      Buffer.concat([hex('3f e1 1f'), indexed('x-a', 'b'), indexed('x-c', 'd'.repeat(200)), hex('be bf 7e 01 61 0f 30 01 62')]),
      encodeFields([':method', 'POST', ':path', '/authmesh.token.v1.TokenService/AcquireToken', 'te', 'trailers', 'grpc-timeout', '5S']),
    ];
    const deadline = Date.now() + 20_000;
    let d = decoder(256, 1024);
    let errors = 0;
    let decoded = 0;
    let cases = 0;
    for (; cases < 20_000 && Date.now() < deadline; cases += 1) {
      let block: Buffer;
      const kind = rand(4);
      if (kind === 0) block = Buffer.from(Array.from({ length: rand(64) }, () => rand(256)));
      else {
        block = Buffer.from(seeds[rand(seeds.length)]!);
        const flips = 1 + rand(4);
        for (let i = 0; i < flips && block.length > 0; i += 1) block[rand(block.length)] = kind === 1 ? rand(256) : block[rand(block.length)]! ^ (1 << rand(8));
        if (kind === 3) block = block.subarray(0, rand(block.length + 1));
      }
      try {
        const out = d.decode(block);
        decoded += 1;
        assert.equal(out.fields.length % 2, 0);
        for (const f of out.fields) assert.equal(typeof f, 'string');
        const { entries, size } = d.table();
        assert.equal(size, entries.reduce((sum, [n, v]) => sum + n.length + v.length + 32, 0));
        assert.ok(size <= 256, `table size ${size}`);
      } catch (err) {
        if (!(err instanceof HpackError)) throw new Error(`case ${cases} (${block.toString('hex')}) threw ${String(err)}`, { cause: err });
        errors += 1;
        // After a compression error the connection ends: start again with a new table.
        d = decoder(256, 1024);
      }
    }
    assert.equal(cases, 20_000);
    // Both outcomes were exercised, not one of them only.
    assert.ok(errors > 1000 && decoded > 1000, `errors ${errors}, decoded ${decoded}`);
  });
});
