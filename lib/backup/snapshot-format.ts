import type { Identity, SigningKey, Tenant } from '../directory/index.js';

export const SNAPSHOT_FORMAT = 'authmesh-backup';
export const SNAPSHOT_VERSION = 1;
export const SIGNATURE_ALG = 'ES256';

/** The directory state a snapshot carries (see docs/backup-snapshot.md). */
export interface SnapshotContent {
  /** Directory revision the state was read at. */
  revision: number;
  /** When the snapshot was taken, ms since the epoch; its age is measured from here. */
  createdAtMs: number;
  tenants: Tenant[];
  identities: Identity[];
  signingKeys: SigningKey[];
}

/** Line 1 of a snapshot file. */
export interface SnapshotHeader {
  format: typeof SNAPSHOT_FORMAT;
  version: number;
  revision: number;
  createdAtMs: number;
  counts: { tenants: number; identities: number; signingKeys: number };
  /** Length of the body in bytes (everything after line 2). */
  bodyBytes: number;
  /** base64url SHA-256 of the body. */
  sha256: string;
}

/** Line 2: an ES256 signature (IEEE P1363, base64url) over the exact bytes of line 1. */
export interface SnapshotSignature {
  alg: typeof SIGNATURE_ALG;
  kid: string;
  signature: string;
}

/** One body line: exactly one of the fields is set. */
export interface SnapshotRecord {
  signingKey?: SigningKey;
  tenant?: Tenant;
  identity?: Identity;
}
