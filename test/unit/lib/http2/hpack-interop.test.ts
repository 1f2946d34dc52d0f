/**
 * HPACK against node:http2 (nghttp2, which uses Huffman coding and its dynamic table): request
 * blocks a node client sends decode to its headers, and blocks from encodeFields reach a node
 * client as exactly the headers encoded.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { Setting } from '../../../../lib/http2/frames.js';
import { encodeFields, HpackDecoder } from '../../../../lib/http2/hpack.js';
import { RawH2Server } from '../../../support/h2-raw-server.js';

/** Pairs sorted by name, values of one name kept in order: the comparison ignores only field order across names. */
function pairs(fields: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < fields.length; i += 2) out.push([fields[i]!, fields[i + 1]!]);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** Fields as node's header object shows them: one key a name, :status a number. */
function asObject(fields: readonly string[]): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (let i = 0; i < fields.length; i += 2) out[fields[i]!] = fields[i] === ':status' ? Number(fields[i + 1]) : fields[i + 1]!;
  return out;
}

function requestHeaders(i: number): Record<string, string | string[]> {
  return {
    'content-type': 'application/grpc',
    te: 'trailers',
    'user-agent': 'grpc-node-js/1.12.2',
    'grpc-accept-encoding': 'identity,deflate,gzip',
    'grpc-timeout': `${5000 - i}m`,
    'x-repeated': 'the same value on every request',
    'x-per-request': `value ${i}:${'q'.repeat(i * 37)}`,
    'x-long': 'L'.repeat(3000 + i),
    'x-digits': String(10 ** 15 + i * 7919),
    'x-binary-bin': Buffer.from(Array.from({ length: 64 }, (_, k) => (k * 31 + i) & 0xff)).toString('base64'),
    'x-punct': "!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    'x-list': ['first', `second ${i}`, 'third'],
    ...(i === 3 ? { 'x-huge': 'H'.repeat(40_000) } : {}),
  };
}

async function sendAll(port: number, count: number): Promise<{ sent: Array<Record<string, string | string[]>>; close: () => void }> {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => undefined);
  const sent: Array<Record<string, string | string[]>> = [];
  for (let i = 0; i < count; i += 1) {
    const headers = { ':method': 'POST', ':path': `/authmesh.token.v1.TokenService/AcquireToken${i % 2 === 0 ? '' : 'X'}`, ...requestHeaders(i) };
    sent.push(headers);
    const req = client.request(headers, { endStream: true });
    req.on('error', () => undefined);
  }
  return { sent, close: () => client.destroy() };
}

function expectedFields(sent: Record<string, string | string[]>, port: number): string[] {
  const out = [':scheme', 'http', ':authority', `127.0.0.1:${port}`];
  for (const [name, value] of Object.entries(sent)) {
    for (const v of Array.isArray(value) ? value : [value]) out.push(name, v);
  }
  return out;
}

describe('HPACK interop with node:http2', () => {
  it('decodes every request block a node:http2 client sends (Huffman, dynamic table, CONTINUATION) to the headers it was given', async () => {
    const server = await RawH2Server.listen();
    const count = 12;
    const { sent, close } = await sendAll(server.port, count);
    try {
      const blocks = await server.waitForBlocks(count);
      const decoder = new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: 1 << 20 });
      blocks.forEach(({ block }, i) => {
        const out = decoder.decode(block);
        assert.equal(out.malformed, undefined, `request ${i}`);
        assert.equal(out.tooLarge, undefined, `request ${i}`);
        assert.deepEqual(pairs(out.fields), pairs(expectedFields(sent[i]!, server.port)), `request ${i}`);
      });
      // The client indexed: fields repeated from the first request cost an octet each in the second.
      assert.ok(blocks[1]!.block.length < blocks[0]!.block.length - 100, `${blocks[1]!.block.length} vs ${blocks[0]!.block.length}`);
      assert.ok(decoder.table().entries.some(([n, v]) => n === 'x-repeated' && v === 'the same value on every request'));
      // 40,000 'H' (7 bits each) Huffman-coded take 35,000 octets, over one 16,384-octet frame: HEADERS + CONTINUATION.
      assert.ok(blocks[3]!.block.length > 16_384 && blocks[3]!.block.length < 40_000, `${blocks[3]!.block.length}`);
    } finally {
      close();
      await server.close();
    }
  });

  it('stays in step with a node:http2 client through evictions in a 256-octet table', async () => {
    const server = await RawH2Server.listen(undefined, [[Setting.HEADER_TABLE_SIZE, 256]]);
    const client = http2.connect(`http://127.0.0.1:${server.port}`);
    client.on('error', () => undefined);
    const sent: Array<Record<string, string>> = [];
    try {
      // The client sends its first request after the server's SETTINGS, so the first block starts with the size update.
      await new Promise<void>((resolve) => client.once('remoteSettings', () => resolve()));
      for (let i = 0; i < 40; i += 1) {
        const headers = { ':method': 'POST', ':path': '/p', [`x-k${i % 7}`]: `v${i % 5}-${'w'.repeat(i % 3 === 0 ? 90 : 20)}`, 'x-fixed': 'f' };
        sent.push(headers);
        client.request(headers, { endStream: true }).on('error', () => undefined);
      }
      const blocks = await server.waitForBlocks(sent.length);
      // nghttp2 took the smaller table: its first block starts with a size update (001xxxxx).
      assert.equal(blocks[0]!.block[0]! & 0xe0, 0x20);
      const decoder = new HpackDecoder({ maxTableSize: 256, maxHeaderListSize: 1 << 20 });
      blocks.forEach(({ block }, i) => {
        const out = decoder.decode(block);
        assert.deepEqual(pairs(out.fields), pairs(expectedFields(sent[i]!, server.port)), `request ${i}`);
        assert.ok(decoder.table().size <= 256);
      });
    } finally {
      client.destroy();
      await server.close();
    }
  });

  it('a node:http2 client receives exactly the response headers and trailers encodeFields wrote', async () => {
    const responses: string[][] = [
      [':status', '200', 'content-type', 'application/grpc'],
      [':status', '404', 'content-type', 'text/plain', 'x-empty', ''],
      [':status', '418', 'content-type', 'application/grpc', 'grpc-encoding', 'identity', 'x-long', 'v'.repeat(12_000)],
      [':status', '204', 'server', 'authmesh', 'age', '12', 'x-spaces', 'a b\tc', 'x-punct', "!#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"],
      [':status', '500', 'cache-control', 'no-store', 'accept-encoding', 'gzip, deflate', 'x-custom-name-that-is-long', 'x'],
    ];
    const trailers: string[][] = [
      ['grpc-status', '0'],
      ['grpc-status', '5', 'grpc-message', 'not%20found'],
      ['grpc-status', '16', 'grpc-message', 'x'.repeat(300), 'www-authenticate', 'Bearer'],
      ['grpc-status', '0', 'x-t', ''],
      ['grpc-status', '13'],
    ];
    let next = 0;
    const server = await RawH2Server.listen((b, socket) => {
      const i = next++;
      RawH2Server.reply(socket, b.streamId, encodeFields(responses[i]!), false);
      RawH2Server.reply(socket, b.streamId, encodeFields(trailers[i]!), true);
    });
    const client = http2.connect(`http://127.0.0.1:${server.port}`);
    client.on('error', () => undefined);
    try {
      for (let i = 0; i < responses.length; i += 1) {
        const req = client.request({ ':method': 'POST', ':path': '/p' }, { endStream: true });
        const got = await new Promise<{ headers: object; trailers: object }>((resolve, reject) => {
          let headers: object = {};
          req.on('response', (h) => (headers = Object.fromEntries(Object.entries(h))));
          req.on('trailers', (t) => resolve({ headers, trailers: Object.fromEntries(Object.entries(t)) }));
          req.on('error', reject);
          req.resume();
        });
        assert.deepEqual(got.headers, asObject(responses[i]!), `response ${i}`);
        assert.deepEqual(got.trailers, asObject(trailers[i]!), `trailers ${i}`);
      }
    } finally {
      client.destroy();
      await server.close();
    }
  });
});
