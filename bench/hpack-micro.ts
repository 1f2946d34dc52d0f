/**
 * In-process cost of the HPACK codec on gRPC header blocks:
 *   node dist/bench/hpack-micro.js [--ops 1000000] [--runs 3]
 * The request blocks are real: a node:http2 client (nghttp2: Huffman coding, dynamic table) sends
 * gRPC requests to a raw server on 127.0.0.1 that keeps each header block. Timed, per operation:
 *   - the second request of a connection, the same headers as the first (:path literal, the rest indexed);
 *   - a run of requests whose grpc-timeout differs each time (one literal indexed per block, evictions);
 *   - encodeFields for the response headers and for the trailers.
 * Prints the best and median of the runs in ns per operation.
 */
import http2 from 'node:http2';
import { encodeFields, HpackDecoder } from '../lib/http2/hpack.js';
import { RawH2Server } from '../test/support/h2-raw-server.js';

const PATH = '/authmesh.token.v1.TokenService/AcquireToken';
const SEQUENCE = 1000;

function grpcHeaders(timeout: string): http2.OutgoingHttpHeaders {
  return {
    ':method': 'POST',
    ':path': PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
    'user-agent': 'grpc-node-js/1.12.2',
    'grpc-accept-encoding': 'identity,deflate,gzip',
    'grpc-timeout': timeout,
  };
}

/** Header blocks of `timeouts.length` requests on one connection, in order. */
async function capture(timeouts: string[]): Promise<Buffer[]> {
  const server = await RawH2Server.listen();
  const client = http2.connect(`http://127.0.0.1:${server.port}`);
  client.on('error', () => undefined);
  try {
    for (const t of timeouts) client.request(grpcHeaders(t), { endStream: true }).on('error', () => undefined);
    return (await server.waitForBlocks(timeouts.length)).map((b) => b.block);
  } finally {
    client.destroy();
    await server.close();
  }
}

function newDecoder(): HpackDecoder {
  return new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: 16_384 });
}

/** ns per operation of `body(n)` doing n operations, best and median of `runs`. */
function time(label: string, runs: number, ops: number, body: (n: number) => number): void {
  const figures: number[] = [];
  let sink = 0;
  for (let r = 0; r < runs; r += 1) {
    const start = process.hrtime.bigint();
    sink += body(ops);
    figures.push(Number(process.hrtime.bigint() - start) / ops);
  }
  figures.sort((a, b) => a - b);
  const median = figures[Math.floor(figures.length / 2)]!;
  console.log(`${label.padEnd(58)} best ${(figures[0]! / 1000).toFixed(3)} µs  median ${(median / 1000).toFixed(3)} µs  (${ops} ops x ${runs}; ${sink > 0 ? 'ok' : '-'})`);
}

async function main(argv: string[]): Promise<void> {
  const arg = (name: string, dflt: string): number => {
    const i = argv.indexOf(`--${name}`);
    return Number(i >= 0 ? argv[i + 1]! : dflt);
  };
  const ops = arg('ops', '1000000');
  const runs = arg('runs', '3');

  const same = await capture(['4999m', '4999m']);
  const varying = await capture(Array.from({ length: SEQUENCE }, (_, i) => `${4999 - (i % 400)}m`));
  console.log(`blocks: first ${same[0]!.length} octets, second ${same[1]!.length} octets (${same[1]!.toString('hex')}); varying runs ${varying[1]!.length}-${varying[SEQUENCE - 1]!.length} octets`);

  // Second request: nghttp2 sends :path as a Huffman literal without indexing and indexes the rest, so
  // decoding it leaves the table as it is and can repeat.
  const second = newDecoder();
  second.decode(same[0]!);
  const before = JSON.stringify(second.table());
  const check = second.decode(same[1]!);
  if (check.fields.length !== 18 || JSON.stringify(second.table()) !== before) throw new Error(`second block changes the table: ${JSON.stringify(check)}`);
  time('decode: second request (:path literal, the rest indexed)', runs, ops, (n) => {
    let total = 0;
    for (let i = 0; i < n; i += 1) total += second.decode(same[1]!).fields.length;
    return total;
  });

  time(`decode: requests with a new grpc-timeout each (runs of ${SEQUENCE})`, runs, ops, (n) => {
    let total = 0;
    let d = newDecoder();
    for (let i = 0; i < n; i += 1) {
      const k = i % SEQUENCE;
      if (k === 0) d = newDecoder();
      total += d.decode(varying[k]!).fields.length;
    }
    return total;
  });

  const headers = [':status', '200', 'content-type', 'application/grpc'];
  time("encodeFields [':status','200','content-type','application/grpc']", runs, ops, (n) => {
    let total = 0;
    for (let i = 0; i < n; i += 1) total += encodeFields(headers).length;
    return total;
  });
  const trailers = ['grpc-status', '0'];
  time("encodeFields ['grpc-status','0']", runs, ops, (n) => {
    let total = 0;
    for (let i = 0; i < n; i += 1) total += encodeFields(trailers).length;
    return total;
  });
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
