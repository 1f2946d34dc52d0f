/** Why a snapshot was refused. */
export type SnapshotRejectionCode =
  | 'truncated'
  | 'bad-header'
  | 'unsupported-version'
  | 'unsigned'
  | 'unknown-key'
  | 'bad-signature'
  | 'digest-mismatch'
  | 'bad-body'
  /** Signed, but older than the newest snapshot this backup has already accepted. */
  | 'rolled-back';

/** A snapshot that must not be served from; the message says why, for the log. */
export class SnapshotRejected extends Error {
  override readonly name = 'SnapshotRejected';

  constructor(
    readonly code: SnapshotRejectionCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const isSnapshotRejected = (value: unknown): value is SnapshotRejected => value instanceof SnapshotRejected;
