import { readFileSync } from 'node:fs';
import { writePrivateFile } from '../../lib/token/index.js';

/** Where a snapshot stands in time, from its signed header: revision first, then creation time. */
export interface SnapshotPosition {
  revision: number;
  createdAtMs: number;
}

/** Orders positions newest first (for `sort`). */
export const newestPositionFirst = (a: SnapshotPosition, b: SnapshotPosition): number => b.revision - a.revision || b.createdAtMs - a.createdAtMs;

/** True when `a` is strictly older than `b`. */
export const isOlder = (a: SnapshotPosition, b: SnapshotPosition): boolean => newestPositionFirst(a, b) > 0;

/**
 * The newest snapshot position the backup has ever accepted, kept across restarts so an older
 * snapshot (a rollback that would undo revocations) is refused even by a fresh process.
 */
export interface AcceptedSnapshotRecord {
  /** Undefined when nothing was ever accepted. */
  read(): SnapshotPosition | undefined;
  /** Durable when it returns. */
  write(position: SnapshotPosition): void;
}

/** {@link AcceptedSnapshotRecord} in a JSON file (mode 0600, replaced atomically and fsynced). */
export class AcceptedSnapshotFile implements AcceptedSnapshotRecord {
  constructor(readonly file: string) {}

  read(): SnapshotPosition | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let parsed: Partial<SnapshotPosition> | null = null;
    try {
      parsed = JSON.parse(text) as Partial<SnapshotPosition> | null;
    } catch {
      // reported below
    }
    const whole = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
    if (parsed === null || !whole(parsed.revision) || !whole(parsed.createdAtMs)) {
      throw new Error(`${this.file} does not hold an accepted snapshot position; remove it only if the backup store is known good`);
    }
    return { revision: parsed.revision, createdAtMs: parsed.createdAtMs };
  }

  write(position: SnapshotPosition): void {
    writePrivateFile(this.file, `${JSON.stringify({ revision: position.revision, createdAtMs: position.createdAtMs })}\n`);
  }
}
