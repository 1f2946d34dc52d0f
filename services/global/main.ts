import { systemClock } from '../../lib/clock/index.js';
import { ConfigError, describeOptions } from '../../lib/config/index.js';
import { FaultInjector } from '../../lib/fault/index.js';
import { connectionAgeOf, loadMeshTls, onShutdownSignal } from '../../lib/grpc/index.js';
import { createLogger } from '../../lib/log/index.js';
import { meshTlsFiles } from '../../lib/tls/index.js';
import { GLOBAL_OPTIONS, parseGlobalConfig, type GlobalConfig } from './config.js';
import { startGlobal } from './global-server.js';
import { assertionPolicyFromConfig } from '../../lib/token/index.js';
import { certificateExpiryTelemetry } from '../../lib/telemetry/expiry-metrics.js';

/** Composition root of the global authority: config, logger, server, signals. */
async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help')) {
    console.log(`usage: global [options]\n${describeOptions(GLOBAL_OPTIONS)}`);
    return;
  }
  let config: GlobalConfig;
  try {
    config = parseGlobalConfig(argv, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`global: ${err.message}`);
    process.exitCode = 2;
    return;
  }
  const log = createLogger('global', config['log-level']);
  const tlsFiles = meshTlsFiles(config);
  certificateExpiryTelemetry(tlsFiles === undefined ? [] : [{ name: 'mesh', file: tlsFiles.cert }]);
  const server = await startGlobal({
    listen: config.listen,
    connectionAge: connectionAgeOf(config),
    dataDir: config['data-dir'],
    store: config.store,
    instance: config.instance,
    storePasswordFile: config['store-password-file'],
    ...(process.env.AUTHMESH_STORE_PASSWORD ? { storePassword: process.env.AUTHMESH_STORE_PASSWORD } : {}),
    issuer: config.issuer,
    tokenLifetimeMs: config['token-lifetime'],
    assertions: assertionPolicyFromConfig(config),
    watchHeartbeatMs: config['watch-heartbeat'],
    usageFlushMs: config['usage-flush'],
    snapshotIdentities: config['snapshot-identities'],
    signingKeyRotateAfterMs: config['signing-key-rotate-after'],
    backupDir: config['backup-dir'],
    backupIntervalMs: config['backup-interval'],
    backupKeep: config['backup-keep'],
    admission: { maxConcurrent: config['max-concurrent'], maxQueue: config['max-queue'], maxQueueWaitMs: config['max-queue-wait'] },
    ...(config['fault-injection'] ? { faults: new FaultInjector() } : {}),
    clock: systemClock,
    log,
    ...(tlsFiles === undefined ? {} : { tls: loadMeshTls(tlsFiles) }),
  });
  log.info({ mutualTls: tlsFiles !== undefined, mode: config.mode }, tlsFiles === undefined ? 'mesh hops in plaintext with bearer tokens (development)' : 'mesh hops over mutual TLS');
  log.info(
    { listening: server.address, dataDir: config['data-dir'], instance: config.instance || undefined, store: server.store.engine, location: server.store.location, kid: server.signer.kid, revision: await server.store.head() },
    'global authority serving',
  );
  if (config['fault-injection']) log.warn({ faultInjection: true }, 'FAULT INJECTION ENABLED: FaultInjectionService can slow or fail every call; never run this in production');
  onShutdownSignal(() => server.stop(), (msg) => log.info(msg));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`global: failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
