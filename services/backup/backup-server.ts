import path from 'node:path';
import { TokenServiceService } from '../../gen/authmesh/token/v1/token.js';
import { type BackupStore, type ExportVerifier } from '../../lib/backup/index.js';
import type { Clock } from '../../lib/clock/index.js';
import { withFaultInjection, type FaultInjector } from '../../lib/fault/index.js';
import { BearerCheck, meshCallerCheck, meshServerCredentials, requireBearer, serve, withRelay, type ConnectionAgeLimits, type MeshTls, type RunningServer } from '../../lib/grpc/index.js';
import type { Logger } from '../../lib/log/index.js';
import { TokenSigner, tokenServiceBinding, type AssertionPolicy } from '../../lib/token/index.js';
import { BackupDirectory } from './backup-directory.js';
import { AcceptedSnapshotFile } from './accepted-snapshot.js';
import { SnapshotLoader } from './snapshot-loader.js';
import { backupStatus, statusServiceBinding } from './status-service.js';
import { backupTokenBackend } from './token-backend.js';

/** Everything the backup needs; main.ts builds it from config. */
export interface BackupServerOptions {
  listen: string;
  /** When a client connection gets GOAWAY; default 5 min and 30 s of grace. */
  connectionAge?: ConnectionAgeLimits;
  dataDir: string;
  store: BackupStore;
  verifier: ExportVerifier;
  /** Reads the mesh token gateways must present; called on every poll so a rotation is picked up. */
  meshToken: () => string;
  issuer: string;
  lifetimeSeconds: number;
  coverageWindowMs: number;
  maxStalenessMs: number;
  pollIntervalMs: number;
  /** Assertion lifetime cap and replay refusal. Default: one hour, 100,000 ids. */
  assertions?: AssertionPolicy;
  /** Present only when started with fault injection enabled (chaos tests). */
  faults?: FaultInjector;
  clock: Clock;
  log: Logger;
  /** Mutual TLS inside the mesh: TokenService then answers gateway certificates only. */
  tls?: MeshTls;
}

export interface BackupServer {
  address: string;
  port: number;
  signer: TokenSigner;
  loader: SnapshotLoader;
  directory: BackupDirectory;
  running: RunningServer;
  stop(graceMs?: number): Promise<void>;
}

/** The file the backup's signing key lives in (made by `authmesh backup init`). */
export const signingKeyFile = (dataDir: string): string => path.join(dataDir, 'signing-key.pem');

/** The newest snapshot position the backup ever accepted; older snapshots are refused, across restarts. */
export const acceptedSnapshotFile = (dataDir: string): string => path.join(dataDir, 'accepted-snapshot.json');

/**
 * Loads the newest valid snapshot, serves TokenService (gateways only) and its status, polls the
 * store, and keeps grpc.health.v1 at NOT_SERVING while there is no snapshot within the bound.
 */
export async function startBackup(opts: BackupServerOptions): Promise<BackupServer> {
  const { clock, log } = opts;
  const signer = await TokenSigner.loadOrCreate(signingKeyFile(opts.dataDir), 'backup');
  const loader = new SnapshotLoader({ store: opts.store, verifier: opts.verifier, clock, accepted: new AcceptedSnapshotFile(acceptedSnapshotFile(opts.dataDir)) });
  loader.on('loaded', (s, ms) => {
    const mem = process.memoryUsage();
    const mb = (n: number): number => Math.round(n / 1048576);
    log.info(
      { snapshot: s.name, revision: s.revision, createdAtMs: s.createdAtMs, identities: s.identities.size, loadMs: ms, rssMb: mb(mem.rss), heapUsedMb: mb(mem.heapUsed) },
      'snapshot loaded',
    );
  });
  loader.on('rejected', (name, code, reason) => log.warn({ snapshot: name, code, reason, inUse: loader.snapshot()?.name ?? null }, 'snapshot rejected'));
  loader.on('unrecorded', (name, err) => log.error({ snapshot: name, err }, 'cannot record the accepted snapshot revision; a restart would accept older snapshots'));
  const directory = new BackupDirectory({
    snapshot: () => loader.snapshot(),
    clock,
    coverageWindowMs: opts.coverageWindowMs,
    maxStalenessMs: opts.maxStalenessMs,
  });
  await loader.check().catch((err: unknown) => log.error({ err }, 'backup store check failed'));

  let check = new BearerCheck([opts.meshToken()]);
  const token = tokenServiceBinding(
    backupTokenBackend({ directory, snapshot: () => loader.snapshot(), signer, clock, log, issuer: opts.issuer, lifetimeSeconds: opts.lifetimeSeconds, ...(opts.assertions === undefined ? {} : { assertions: opts.assertions }) }),
  );
  // The check is looked up per call, so a re-read token applies at once.
  const guard = opts.tls
    ? meshCallerCheck((identity) => identity.startsWith('gateway-'))
    : ({ allows: (md: Parameters<BearerCheck['allows']>[0]) => check.allows(md) } as BearerCheck);
  const statusDeps = { loader, directory, clock, maxStalenessMs: opts.maxStalenessMs };
  const running = await serve({
    listen: opts.listen,
    ...(opts.connectionAge === undefined ? {} : { connectionAge: opts.connectionAge }),
    credentials: meshServerCredentials(opts.tls),
    services: withRelay(
      withFaultInjection(opts.faults, [
        { ...token, implementation: requireBearer(TokenServiceService, token.implementation, guard, 'mesh token') },
        statusServiceBinding(statusDeps),
      ]),
      token.name,
    ),
    initialStatus: directory.freshness().serving ? 'SERVING' : 'NOT_SERVING',
  });

  let serving = directory.freshness().serving;
  const evaluate = (): void => {
    const fresh = directory.freshness();
    if (fresh.serving === serving) return;
    serving = fresh.serving;
    running.setServing(serving ? 'SERVING' : 'NOT_SERVING');
    if (fresh.serving) log.info({ ageMs: fresh.ageMs }, 'backup serving');
    else log.warn({ reason: fresh.reason, ageMs: fresh.ageMs }, 'backup NOT_SERVING');
  };
  const poll = setInterval(() => {
    // Under mutual TLS callers are checked by certificate and the token is not used.
    if (opts.tls === undefined) {
      try {
        check = new BearerCheck([opts.meshToken()]);
      } catch (err) {
        log.warn({ err }, 'cannot re-read the mesh token; keeping the one in use');
      }
    }
    loader.check().then(evaluate, (err: unknown) => log.error({ err }, 'backup store check failed'));
  }, opts.pollIntervalMs);
  // Staleness is judged on its own clock, so a stalled store still turns health NOT_SERVING.
  const watch = setInterval(evaluate, Math.max(100, Math.min(1000, Math.floor(opts.maxStalenessMs / 4))));
  poll.unref();
  watch.unref();
  log.info({ status: backupStatus(statusDeps) }, 'backup status');

  let stopped: Promise<void> | undefined;
  const stop = (graceMs = 5000): Promise<void> =>
    (stopped ??= (async () => {
      clearInterval(poll);
      clearInterval(watch);
      await running.shutdown(graceMs);
    })());
  return { address: running.address, port: running.port, signer, loader, directory, running, stop };
}
