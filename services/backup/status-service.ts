import { BackupStatusServiceService, type BackupStatusServiceServer, type GetStatusResponse } from '../../gen/authmesh/backup/v1/backup.js';
import type { ServiceBinding } from '../../lib/grpc/index.js';
import type { Clock } from '../../lib/clock/index.js';
import type { BackupDirectory } from './backup-directory.js';
import type { SnapshotLoader } from './snapshot-loader.js';

export interface StatusDeps {
  loader: SnapshotLoader;
  directory: BackupDirectory;
  clock: Clock;
  maxStalenessMs: number;
}

/** What the backup reports about itself: snapshot revision, age and coverage. */
export function backupStatus({ loader, directory, clock, maxStalenessMs }: StatusDeps): GetStatusResponse {
  const s = loader.snapshot();
  const fresh = directory.freshness();
  return {
    serving: fresh.serving,
    revision: s?.revision ?? 0,
    snapshotName: s?.name ?? '',
    createdAtMs: s?.createdAtMs ?? 0,
    ageMs: s === undefined ? 0 : Math.max(0, clock.now() - s.createdAtMs),
    maxStalenessMs,
    identities: s?.identities.size ?? 0,
    coveredIdentities: directory.coveredCount(),
    lastRejection: loader.lastRejected(),
    loadedAtMs: s?.loadedAtMs ?? 0,
  };
}

/** authmesh.backup.v1.BackupStatusService; it carries no directory data, so it is open. */
export function statusServiceBinding(deps: StatusDeps): ServiceBinding {
  const implementation: BackupStatusServiceServer = {
    getStatus: (_call, callback) => callback(null, backupStatus(deps)),
  };
  return { name: 'authmesh.backup.v1.BackupStatusService', definition: BackupStatusServiceService, implementation };
}
