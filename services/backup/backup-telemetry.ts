import { metrics } from '@opentelemetry/api';
import type { Clock } from '../../lib/clock/index.js';
import type { LoadedSnapshot } from './loaded-snapshot.js';

/**
 * Metrics of the backup fault domain, read from the snapshot it serves when scraped:
 * `authmesh_backup_snapshot_revision` and `authmesh_backup_snapshot_age_seconds` (since global
 * exported it), and `authmesh_backup_max_staleness_seconds`, the age past which it refuses to
 * serve. Nothing of the snapshot is reported before a snapshot has loaded. The age of the data behind each
 * token is also on its server span (`authmesh.data_age_ms`, set where the token is answered).
 */
export function backupTelemetry(snapshot: () => LoadedSnapshot | undefined, clock: Clock, maxStalenessMs?: number): void {
  const meter = metrics.getMeter('authmesh-backup');
  if (maxStalenessMs !== undefined) {
    meter
      .createObservableGauge('authmesh_backup_max_staleness_seconds', { description: 'Snapshot age past which the backup refuses to serve (--max-staleness)', unit: 's' })
      .addCallback((r) => r.observe(maxStalenessMs / 1000));
  }
  meter.createObservableGauge('authmesh_backup_snapshot_revision', { description: 'Directory revision of the snapshot served' }).addCallback((r) => {
    const s = snapshot();
    if (s !== undefined) r.observe(s.revision);
  });
  meter.createObservableGauge('authmesh_backup_snapshot_age_seconds', { description: 'Age of the snapshot served, since global exported it', unit: 's' }).addCallback((r) => {
    const s = snapshot();
    if (s !== undefined) r.observe(Math.max(0, (clock.now() - s.createdAtMs) / 1000));
  });
}
