/** The examples of RFC 7541 Appendix C, decoded in order with the dynamic table checked after each block. */
import assert from 'node:assert/strict';
import { HpackDecoder } from '../../../../lib/http2/hpack.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

interface Step {
  block: string;
  fields: string[];
  /** Dynamic table after the block, newest first. */
  table: Array<[string, string]>;
  size: number;
}

function run(steps: Step[], maxTableSize = 4096): void {
  const decoder = new HpackDecoder({ maxTableSize, maxHeaderListSize: 1 << 20 });
  steps.forEach((step, i) => {
    const out = decoder.decode(hex(step.block));
    assert.deepEqual(out.fields, step.fields, `block ${i + 1}`);
    assert.equal(out.malformed, undefined, `block ${i + 1}`);
    assert.equal(out.tooLarge, undefined, `block ${i + 1}`);
    assert.deepEqual(decoder.table(), { entries: step.table, size: step.size }, `table after block ${i + 1}`);
  });
}

const REQ1 = [':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com'];
const REQ2 = [...REQ1, 'cache-control', 'no-cache'];
const REQ3 = [':method', 'GET', ':scheme', 'https', ':path', '/index.html', ':authority', 'www.example.com', 'custom-key', 'custom-value'];
const AUTH: [string, string] = [':authority', 'www.example.com'];
const NOCACHE: [string, string] = ['cache-control', 'no-cache'];
const CUSTOM: [string, string] = ['custom-key', 'custom-value'];
const requests = (blocks: [string, string, string]): Step[] => [
  { block: blocks[0], fields: REQ1, table: [AUTH], size: 57 },
  { block: blocks[1], fields: REQ2, table: [NOCACHE, AUTH], size: 110 },
  { block: blocks[2], fields: REQ3, table: [CUSTOM, NOCACHE, AUTH], size: 164 },
];

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOCATION = 'https://www.example.com';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const responses = (blocks: [string, string, string]): Step[] => [
  {
    block: blocks[0],
    fields: [':status', '302', 'cache-control', 'private', 'date', DATE1, 'location', LOCATION],
    table: [['location', LOCATION], ['date', DATE1], ['cache-control', 'private'], [':status', '302']],
    size: 222,
  },
  {
    block: blocks[1],
    fields: [':status', '307', 'cache-control', 'private', 'date', DATE1, 'location', LOCATION],
    table: [[':status', '307'], ['location', LOCATION], ['date', DATE1], ['cache-control', 'private']],
    size: 222,
  },
  {
    block: blocks[2],
    fields: [':status', '200', 'cache-control', 'private', 'date', DATE2, 'location', LOCATION, 'content-encoding', 'gzip', 'set-cookie', COOKIE],
    table: [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE2]],
    size: 215,
  },
];

describe('HPACK decoder on the RFC 7541 Appendix C examples', () => {
  it('C.2.1 literal with indexing adds custom-key: custom-header to the table', () => {
    run([{ block: '400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572', fields: ['custom-key', 'custom-header'], table: [['custom-key', 'custom-header']], size: 55 }]);
  });

  it('C.2.2 literal without indexing decodes :path /sample/path and leaves the table empty', () => {
    run([{ block: '040c 2f73 616d 706c 652f 7061 7468', fields: [':path', '/sample/path'], table: [], size: 0 }]);
  });

  it('C.2.3 literal never indexed decodes password: secret and leaves the table empty', () => {
    run([{ block: '1008 7061 7373 776f 7264 0673 6563 7265 74', fields: ['password', 'secret'], table: [], size: 0 }]);
  });

  it('C.2.4 indexed field 2 is :method GET', () => {
    run([{ block: '82', fields: [':method', 'GET'], table: [], size: 0 }]);
  });

  it('C.3 three requests without Huffman share one dynamic table', () => {
    run(
      requests([
        '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
        '8286 84be 5808 6e6f 2d63 6163 6865',
        '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
      ]),
    );
  });

  it('C.4 three requests with Huffman share one dynamic table', () => {
    run(
      requests([
        '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
        '8286 84be 5886 a8eb 1064 9cbf',
        '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
      ]),
    );
  });

  it('C.5 three responses without Huffman evict from a 256-octet table', () => {
    run(
      responses([
        `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
         2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
         6c65 2e63 6f6d`,
        '4803 3330 37c1 c0bf',
        `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
         54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
         5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
         3d31`,
      ]),
      256,
    );
  });

  it('C.6 three responses with Huffman evict from a 256-octet table', () => {
    run(
      responses([
        `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
         2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
        '4883 640e ffc1 c0bf',
        `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
         77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
         9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
      ]),
      256,
    );
  });
});
