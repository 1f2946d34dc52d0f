/** Snapshot names sort by revision, then by creation time: `snapshot-<revision>-<createdAtMs>.ndjson`. */
const NAME = /^snapshot-(\d{16})-(\d{16})\.ndjson$/;

export interface SnapshotNameParts {
  revision: number;
  createdAtMs: number;
}

export function snapshotName(revision: number, createdAtMs: number): string {
  return `snapshot-${String(revision).padStart(16, '0')}-${String(createdAtMs).padStart(16, '0')}.ndjson`;
}

/** The revision and time a name claims (the header inside is what counts); undefined for other files. */
export function parseSnapshotName(name: string): SnapshotNameParts | undefined {
  const m = NAME.exec(name);
  return m === null ? undefined : { revision: Number(m[1]), createdAtMs: Number(m[2]) };
}

/** Snapshot names only, newest first. */
export function newestFirst(names: readonly string[]): string[] {
  return names.filter((n) => parseSnapshotName(n) !== undefined).sort().reverse();
}
