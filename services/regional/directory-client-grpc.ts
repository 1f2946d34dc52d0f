import { credentials, Metadata, status, type CallOptions, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import {
  DirectoryServiceClient,
  type GetSnapshotRequest,
  type GetSnapshotResponse,
  type LookupIdentityRequest,
  type LookupIdentityResponse,
  type RegisterSigningKeyRequest,
  type RegisterSigningKeyResponse,
  type ReportUsageRequest,
  type ReportUsageResponse,
  type WatchResponse,
} from '../../gen/authmesh/directory/v1/directory.js';
import { meshChannelOptions, meshTarget } from '../../lib/grpc/mesh-tls.js';
import { DirectoryCallError, type DirectoryCallOptions, type DirectorySource } from './directory-client.js';

export interface GrpcDirectoryOptions {
  /** `host:port` of global. */
  address: string;
  /** Returns the mesh credential, read when a call is made (global may write it after we start). */
  meshToken: () => string | undefined;
  /** Deadline of a unary call made without one, in ms. Default 5000. */
  defaultTimeoutMs?: number;
  /** A watch stream silent for this long (no change, no heartbeat) is treated as dead, in ms. Default 30000. */
  watchIdleTimeoutMs?: number;
  /** Channel credentials (mutual TLS inside the mesh). Default plaintext. */
  channelCredentials?: ChannelCredentials;
}

export interface GrpcDirectorySource extends DirectorySource {
  close(): void;
}

type Unary<Req, Res> = (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: (err: ServiceError | null, res: Res) => void) => { cancel(): void };

/** DirectorySource over gRPC to global, with the mesh credential in `authorization: Bearer`. */
export function grpcDirectorySource(options: GrpcDirectoryOptions): GrpcDirectorySource {
  const channelCredentials = options.channelCredentials ?? credentials.createInsecure();
  const client = new DirectoryServiceClient(meshTarget(options.address), channelCredentials, {
    ...meshChannelOptions(options.address, channelCredentials),
    // Detect a hung or vanished global on an open watch stream.
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 5_000,
  });
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 5000;
  const idleMs = options.watchIdleTimeoutMs ?? 30_000;

  const metadata = (): Metadata => {
    const md = new Metadata();
    const token = options.meshToken();
    if (token !== undefined && token.length > 0) md.set('authorization', `Bearer ${token}`);
    return md;
  };

  function unary<Req, Res>(method: Unary<Req, Res>, req: Req, opts: DirectoryCallOptions = {}): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      if (opts.signal?.aborted === true) return reject(new DirectoryCallError(status.CANCELLED, 'cancelled before the call'));
      const deadline = opts.deadline ?? Date.now() + defaultTimeoutMs;
      const call = method.call(client, req, metadata(), { deadline }, (err, res) => {
        opts.signal?.removeEventListener('abort', onAbort);
        if (err !== null) reject(new DirectoryCallError(err.code, err.details || err.message, { cause: err }));
        else resolve(res);
      });
      const onAbort = (): void => call.cancel();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  function watch(fromRevision: number, onMessage: (m: WatchResponse) => void, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(new DirectoryCallError(status.CANCELLED, 'watch cancelled'));
      const stream = client.watch({ fromRevision }, metadata());
      let settled = false;
      let idleReason: string | undefined;
      const finish = (err?: DirectoryCallError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(idle);
        signal.removeEventListener('abort', onAbort);
        if (err === undefined) resolve();
        else reject(err);
      };
      const armIdle = (): NodeJS.Timeout =>
        setTimeout(() => {
          idleReason = `watch silent for ${idleMs} ms`;
          stream.cancel();
        }, idleMs).unref();
      let idle = armIdle();
      const onAbort = (): void => stream.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
      stream.on('data', (message: WatchResponse) => {
        clearTimeout(idle);
        idle = armIdle();
        try {
          onMessage(message);
        } catch (err) {
          idleReason = `applying a change failed: ${err instanceof Error ? err.message : String(err)}`;
          stream.cancel();
        }
      });
      stream.on('error', (err: ServiceError) => {
        if (idleReason !== undefined) finish(new DirectoryCallError(status.UNAVAILABLE, idleReason, { cause: err }));
        else finish(new DirectoryCallError(err.code, err.details || err.message, { cause: err }));
      });
      stream.on('end', () => finish());
    });
  }

  return {
    getSnapshot: (req, opts) => unary(client.getSnapshot as Unary<GetSnapshotRequest, GetSnapshotResponse>, req, opts),
    lookupIdentity: (req, opts) => unary(client.lookupIdentity as Unary<LookupIdentityRequest, LookupIdentityResponse>, req, opts),
    registerSigningKey: (req, opts) =>
      unary(client.registerSigningKey as Unary<RegisterSigningKeyRequest, RegisterSigningKeyResponse>, req, opts),
    reportUsage: async (req, opts) => {
      await unary(client.reportUsage as Unary<ReportUsageRequest, ReportUsageResponse>, req, opts);
    },
    watch,
    close: () => client.close(),
  };
}
