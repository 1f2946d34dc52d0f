import { Server, ServerCredentials, status, type Metadata, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData } from '@grpc/grpc-js';
import {
  DirectoryServiceService,
  type WatchRequest,
  type WatchResponse,
} from '../../gen/authmesh/directory/v1/directory.js';
import { DirectoryCallError } from '../../services/regional/directory-client.js';
import type { FakeDirectory } from './fake-directory.js';

export interface FakeDirectoryServer {
  address: string;
  port: number;
  /** Stops taking calls and cuts open streams at once. */
  stop(): Promise<void>;
}

/**
 * Serves a {@link FakeDirectory} as authmesh.directory.v1.DirectoryService on 127.0.0.1, checking
 * the mesh credential like global does. Pass `port` to come back on the same address after a stop.
 */
export async function startFakeDirectoryServer(fake: FakeDirectory, options: { meshToken: string; port?: number }): Promise<FakeDirectoryServer> {
  const server = new Server();
  const authorized = (md: Metadata): boolean => md.get('authorization')[0] === `Bearer ${options.meshToken}`;
  const denied = { code: status.UNAUTHENTICATED, details: 'mesh credential required' };
  const failure = (err: unknown): { code: status; details: string } =>
    err instanceof DirectoryCallError ? { code: err.code, details: err.message } : { code: status.INTERNAL, details: String(err) };
  const unary =
    <Req, Res>(handler: (req: Req) => Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      if (!authorized(call.metadata)) return callback(denied);
      handler(call.request).then(
        (res) => callback(null, res),
        (err: unknown) => callback(failure(err)),
      );
    };
  server.addService(DirectoryServiceService, {
    getSnapshot: unary((req: Parameters<FakeDirectory['getSnapshot']>[0]) => fake.getSnapshot(req)),
    lookupIdentity: unary((req: Parameters<FakeDirectory['lookupIdentity']>[0]) => fake.lookupIdentity(req)),
    registerSigningKey: unary((req: Parameters<FakeDirectory['registerSigningKey']>[0]) => fake.registerSigningKey(req)),
    reportUsage: unary(async (req: Parameters<FakeDirectory['reportUsage']>[0]) => {
      await fake.reportUsage(req);
      return {};
    }),
    watch(call: ServerWritableStream<WatchRequest, WatchResponse>) {
      if (!authorized(call.metadata)) return void call.emit('error', denied);
      const controller = new AbortController();
      call.on('cancelled', () => controller.abort());
      fake.watch(call.request.fromRevision, (m) => call.write(m), controller.signal).then(
        () => call.end(),
        (err: unknown) => {
          if (controller.signal.aborted) return;
          call.emit('error', failure(err));
        },
      );
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  return {
    address: `127.0.0.1:${port}`,
    port,
    async stop() {
      fake.disconnect();
      server.forceShutdown();
    },
  };
}
