/**
 * A grpc-js unary echo server (`--mode echo`) or a proxy that forwards every call to an echo server
 * with a grpc-js client (`--mode proxy --upstream host:port`), both with raw byte serializers.
 * Prints `{"listening":"127.0.0.1:<port>"}` once bound. Bench anchor only.
 */
import { Client, credentials, Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';

export const ECHO_PATH = '/bench.Echo/Echo';
const identity = (b: Buffer): Buffer => b;

function main(argv: string[]): void {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const mode = arg('mode') ?? 'echo';
  const upstream = arg('upstream');
  const channels = Number(arg('channels') ?? '1');
  let handler: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => void;
  if (mode === 'proxy') {
    if (upstream === undefined || !upstream.startsWith('127.0.0.1:')) throw new Error('--upstream 127.0.0.1:<port> is required');
    const clients = Array.from({ length: channels }, () => new Client(upstream, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
    let next = 0;
    handler = (call, cb) => {
      const client = clients[next]!;
      next = (next + 1) % clients.length;
      client.makeUnaryRequest(ECHO_PATH, identity, identity, call.request, { deadline: Date.now() + 5000 }, (err, res) => (err ? cb(err) : cb(null, res)));
    };
  } else {
    handler = (call, cb) => cb(null, call.request);
  }
  const server = new Server();
  server.addService(
    { echo: { path: ECHO_PATH, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } },
    { echo: handler },
  );
  server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, port) => {
    if (err) throw err;
    console.log(JSON.stringify({ listening: `127.0.0.1:${port}` }));
  });
  process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
}

if (require.main === module) main(process.argv.slice(2));
