import { status } from '@grpc/grpc-js';
import type {
  GetSnapshotRequest,
  GetSnapshotResponse,
  LookupIdentityRequest,
  LookupIdentityResponse,
  RegisterSigningKeyRequest,
  RegisterSigningKeyResponse,
  ReportUsageRequest,
  WatchResponse,
} from '../../gen/authmesh/directory/v1/directory.js';

/** Per-call options: an absolute deadline (ms since the epoch) and a way to give up early. */
export interface DirectoryCallOptions {
  deadline?: number;
  signal?: AbortSignal;
}

/**
 * The part of global's DirectoryService that a region uses. The gRPC client implements it; tests
 * use an in-memory fake, so the sync logic is testable without sockets. Every failure is a
 * {@link DirectoryCallError}.
 */
export interface DirectorySource {
  getSnapshot(request: GetSnapshotRequest, options?: DirectoryCallOptions): Promise<GetSnapshotResponse>;
  lookupIdentity(request: LookupIdentityRequest, options?: DirectoryCallOptions): Promise<LookupIdentityResponse>;
  /**
   * Streams every change after `fromRevision`, in order, to `onMessage`. Resolves when global ends
   * the stream, rejects when it fails (OUT_OF_RANGE: the log was compacted past `fromRevision`),
   * and rejects with CANCELLED once `signal` aborts.
   */
  watch(fromRevision: number, onMessage: (message: WatchResponse) => void, signal: AbortSignal): Promise<void>;
  registerSigningKey(request: RegisterSigningKeyRequest, options?: DirectoryCallOptions): Promise<RegisterSigningKeyResponse>;
  reportUsage(request: ReportUsageRequest, options?: DirectoryCallOptions): Promise<void>;
}

/** A failed call to global, with its gRPC status code. */
export class DirectoryCallError extends Error {
  override readonly name = 'DirectoryCallError';
  constructor(
    readonly code: status,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The change log no longer reaches back to the requested revision: reload a snapshot. */
export const isCompacted = (err: unknown): boolean => err instanceof DirectoryCallError && err.code === status.OUT_OF_RANGE;

/** Describes a failure for logs without a stack. */
export function describeFailure(err: unknown): { code?: string; message: string } {
  if (err instanceof DirectoryCallError) return { code: status[err.code] ?? String(err.code), message: err.message };
  return { message: err instanceof Error ? err.message : String(err) };
}
