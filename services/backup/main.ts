import { readFileSync } from 'node:fs';
import { exportVerifierFromPem, FolderBackupStore } from '../../lib/backup/index.js';
import { systemClock } from '../../lib/clock/index.js';
import { ConfigError, describeOptions } from '../../lib/config/index.js';
import { FaultInjector } from '../../lib/fault/index.js';
import { connectionAgeOf, loadMeshTls, onShutdownSignal } from '../../lib/grpc/index.js';
import { createLogger } from '../../lib/log/index.js';
import { assertionPolicyFromConfig } from '../../lib/token/index.js';
import { meshTlsFiles } from '../../lib/tls/index.js';
import { backupTelemetry } from './backup-telemetry.js';
import { startBackup } from './backup-server.js';
import { BACKUP_OPTIONS, parseBackupConfig, type BackupConfig } from './config.js';
import { certificateExpiryTelemetry } from '../../lib/telemetry/expiry-metrics.js';

function readToken(file: string): string {
  const token = readFileSync(file, 'utf8').trim();
  if (token.length < 16) throw new Error(`${file} does not hold a usable mesh token`);
  return token;
}

/** Composition root of the backup fault domain: config, logger, server, signals. */
async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help')) {
    console.log(`usage: backup [options]\n${describeOptions(BACKUP_OPTIONS)}`);
    return;
  }
  let config: BackupConfig;
  try {
    config = parseBackupConfig(argv, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`backup: ${err.message}`);
    process.exitCode = 2;
    return;
  }
  const log = createLogger('backup', config['log-level']);
  const tokenFile = config['mesh-token-file'];
  const verifier = await exportVerifierFromPem(readFileSync(config['export-public-key'], 'utf8'));
  const server = await startBackup({
    listen: config.listen,
    connectionAge: connectionAgeOf(config),
    dataDir: config['data-dir'],
    store: new FolderBackupStore(config['store-dir']),
    verifier,
    meshToken: () => readToken(tokenFile),
    issuer: config.issuer,
    lifetimeSeconds: Math.round(config['token-lifetime'] / 1000),
    coverageWindowMs: config['coverage-window'],
    maxStalenessMs: config['max-staleness'],
    pollIntervalMs: config['poll-interval'],
    assertions: assertionPolicyFromConfig(config),
    ...(config['fault-injection'] ? { faults: new FaultInjector() } : {}),
    clock: systemClock,
    log,
    ...((files) => (files === undefined ? {} : { tls: loadMeshTls(files) }))(meshTlsFiles(config)),
  });
  backupTelemetry(() => server.loader.snapshot(), systemClock, config['max-staleness']);
  certificateExpiryTelemetry(((files) => (files === undefined ? [] : [{ name: 'mesh', file: files.cert }]))(meshTlsFiles(config)));
  log.info(
    { listening: server.address, kid: server.signer.kid, exportKid: verifier.kid, storeDir: config['store-dir'], revision: server.loader.snapshot()?.revision ?? null },
    'backup serving',
  );
  if (config['fault-injection']) log.warn({ faultInjection: true }, 'FAULT INJECTION ENABLED: FaultInjectionService can slow or fail every call; never run this in production');
  onShutdownSignal(() => server.stop(), (msg) => log.info(msg));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`backup: failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
