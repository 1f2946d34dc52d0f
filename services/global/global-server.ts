import os from 'node:os';
import path from 'node:path';
import { AdmissionControl, withAdmission, type AdmissionOptions } from '../../lib/admission/index.js';
import { FolderBackupStore, loadOrCreateExportKey } from '../../lib/backup/index.js';
import type { Clock } from '../../lib/clock/index.js';
import { withFaultInjection, type FaultInjector } from '../../lib/fault/index.js';
import {
  BearerCheck, meshCallerCheck, meshServerCredentials, memberOfToken, memberToken, peerIdentity, serve, withRelay, MEMBER_TOKEN_KEY_FILE, type ConnectionAgeLimits, type MeshTls, type RunningServer,
} from '../../lib/grpc/index.js';
import type { Logger } from '../../lib/log/index.js';
import { RotatingSigningKey, startKeyRotation, tokenServiceBinding, type AssertionPolicy, type TokenSigner } from '../../lib/token/index.js';
import { HostTokens } from './host-token.js';
import { adminServiceBinding } from './admin-service.js';
import { loadOrCreateBearerToken } from './auth.js';
import { BackupExporter } from './backup-exporter.js';
import type { CallerIdentity } from './directory-access.js';
import { directoryServiceBinding } from './directory-service.js';
import { openStore } from './store/open-store.js';
import type { DirectoryStore } from './store/store.js';
import { globalTokenBackend } from './token-backend.js';
import { UsageRecorder } from './usage-recorder.js';
import { WatchHub } from './watch-hub.js';
import { signingKeyExpiryTelemetry } from '../../lib/telemetry/expiry-metrics.js';

/** Everything the global authority needs to run; main.ts builds it from config. */
export interface GlobalServerOptions {
  listen: string;
  /** When a client connection gets GOAWAY; default 5 min and 30 s of grace. */
  connectionAge?: ConnectionAgeLimits;
  dataDir: string;
  /** The directory store: a SQLite file, `sqlite:<path>` or a postgres:// URL; empty for `<dataDir>/directory.db`. */
  store?: string;
  /**
   * This instance's name when several share one store: its signing key is published as
   * `global/<instance>` (so instances do not retire each other's keys) and it holds leases under it.
   */
  instance?: string;
  /** File with the PostgreSQL password (first line). */
  storePasswordFile?: string;
  /** The PostgreSQL password itself, from the environment. */
  storePassword?: string;
  issuer: string;
  tokenLifetimeMs: number;
  /** Assertion lifetime cap and replay refusal of this instance. Default: one hour, 100,000 ids. */
  assertions?: AssertionPolicy;
  watchHeartbeatMs: number;
  usageFlushMs: number;
  snapshotIdentities: number;
  /** Global's own signing key is replaced once it is this old, in ms; 0 or absent never. */
  signingKeyRotateAfterMs?: number;
  /** Backup store folder; empty for `<dataDir>/backups`. */
  backupDir?: string;
  /** Time between backup exports in ms; 0 for on demand only (default 30 s). */
  backupIntervalMs?: number;
  /** Snapshots kept (default 5). */
  backupKeep?: number;
  /** Admission control of TokenService: bounded concurrency and queue (defaults 64 / 256 / 500 ms). */
  admission?: AdmissionOptions;
  /** Present only when started with fault injection enabled (chaos tests). */
  faults?: FaultInjector;
  clock: Clock;
  log: Logger;
  /** Mutual TLS inside the mesh; plaintext with bearer tokens when absent (development). */
  tls?: MeshTls;
}

/**
 * Who may call what when mutual TLS is on: the directory API as each member's role allows
 * (directory-access.ts); the admin API (export included) the admin certificate or the admin
 * token. TokenService takes any mesh certificate.
 */
export const ADMIN_MEMBERS = (identity: string): boolean => identity === 'admin';

export interface GlobalServer {
  /** Bound address, `host:port`. */
  address: string;
  port: number;
  adminToken: string;
  meshToken: string;
  /** The development token of mesh member `member` (e.g. `regional-eastus`): what it presents to DirectoryService. */
  memberToken(member: string): string;
  /** The key global signs tokens with now (it changes when the key rotates). */
  readonly signer: TokenSigner;
  store: DirectoryStore;
  exporter: BackupExporter;
  running: RunningServer;
  /** Ends watches, drains calls, flushes usage and closes the store. */
  stop(graceMs?: number): Promise<void>;
}

/** The files global keeps in its data dir. */
export const dataFiles = (dataDir: string, instance = '') => ({
  database: path.join(dataDir, 'directory.db'),
  // Instances sharing a data dir (tokens, export key, backups) each keep a signing key of their own.
  signingKey: path.join(dataDir, instance === '' ? 'signing-key.pem' : `signing-key-${instance}.pem`),
  adminToken: path.join(dataDir, 'admin-token'),
  meshToken: path.join(dataDir, 'mesh-token'),
  memberTokenKey: path.join(dataDir, MEMBER_TOKEN_KEY_FILE),
  hostTokenKey: path.join(dataDir, 'host-token-key'),
  exportKey: path.join(dataDir, 'export-key.pem'),
  exportPublicKey: path.join(dataDir, 'export-key.pub.pem'),
  backups: path.join(dataDir, 'backups'),
});

/**
 * Opens the store, loads (or creates) the signing key and the two bearer tokens, publishes the
 * key in the directory, and serves AdminService, DirectoryService, TokenService and health on
 * one port.
 */
export async function startGlobal(opts: GlobalServerOptions): Promise<GlobalServer> {
  const files = dataFiles(opts.dataDir, opts.instance ?? '');
  const { clock, log } = opts;
  const adminToken = loadOrCreateBearerToken(files.adminToken);
  const meshToken = loadOrCreateBearerToken(files.meshToken);
  const memberTokenKey = loadOrCreateBearerToken(files.memberTokenKey);
  // Signs host tokens (CreateHostToken); replacing the file revokes every host token.
  const hostTokens = new HostTokens(loadOrCreateBearerToken(files.hostTokenKey), clock);
  const keys = await RotatingSigningKey.load(files.signingKey, 'global', opts.signingKeyRotateAfterMs ?? 0, clock);
  signingKeyExpiryTelemetry(keys.current.domain, () => keys);
  const exportKey = await loadOrCreateExportKey(files.exportKey, files.exportPublicKey);
  const store = await openStore({
    store: opts.store || files.database,
    clock,
    log,
    ...(opts.storePasswordFile ? { passwordFile: opts.storePasswordFile } : {}),
    ...(opts.storePassword ? { password: opts.storePassword } : {}),
  });
  const keyDomain = opts.instance ? `global/${opts.instance}` : 'global';
  const holder = opts.instance || `${os.hostname()}:${process.pid}`;
  try {
    /** Publishes a key of global's own in the directory (every JWK Set comes from there). */
    const publish = async (signer: TokenSigner): Promise<boolean> => {
      const published = await store.registerSigningKey(signer.kid, keyDomain, JSON.stringify(signer.publicJwk));
      if (published.created) log.info({ kid: signer.kid, revision: published.revision }, 'own signing key published');
      return true;
    };
    await publish(keys.current);
    // A rotation cut short by a stop is finished before serving (see startKeyRotation).
    if (keys.interrupted()) await keys.rotate(publish);

    const usage = new UsageRecorder({ store, log, flushIntervalMs: opts.usageFlushMs });
    const exporter = new BackupExporter({
      store,
      backupStore: new FolderBackupStore(opts.backupDir || files.backups),
      signer: exportKey,
      clock,
      log,
      ...(opts.backupKeep === undefined ? {} : { keep: opts.backupKeep }),
      ...(opts.backupIntervalMs === undefined ? {} : { intervalMs: opts.backupIntervalMs }),
      // Timed exports happen once per tier: the instance holding the lease makes them.
      lease: (ttlMs) => store.claimLease('backup-export', holder, ttlMs),
    });
    const watchHub = new WatchHub({ store, log, heartbeatMs: opts.watchHeartbeatMs });
    const admission = new AdmissionControl({ maxQueueWaitMs: 500, ...opts.admission });
    const token = tokenServiceBinding(
      globalTokenBackend({ store, keys, usage, clock, log, issuer: opts.issuer, lifetimeSeconds: Math.round(opts.tokenLifetimeMs / 1000), ...(opts.assertions === undefined ? {} : { assertions: opts.assertions }) }),
    );
    const bindings = withFaultInjection(opts.faults, [
      adminServiceBinding({
        store, clock, log, adminToken, exporter, hostTokens,
        ...(opts.tls ? { callerCheck: meshCallerCheck(ADMIN_MEMBERS, new BearerCheck([adminToken])) } : {}),
      }),
      directoryServiceBinding({
        store,
        watchHub,
        usage,
        clock,
        log,
        callerIdentity: opts.tls ? peerIdentity : developmentCallers(adminToken, meshToken, memberTokenKey),
        defaultSnapshotIdentities: opts.snapshotIdentities,
      }),
      token,
    ]);
    // Admission comes first, so injected latency holds a slot like real work does.
    const running = await serve({
      listen: opts.listen,
    ...(opts.connectionAge === undefined ? {} : { connectionAge: opts.connectionAge }),
      credentials: meshServerCredentials(opts.tls),
      services: withRelay(bindings.map((b) => (b.name === token.name ? withAdmission(b, admission) : b)), token.name),
    });
    usage.start();
    exporter.start();
    const rotation = startKeyRotation(keys, publish, log);
    let stopped: Promise<void> | undefined;
    const stop = (graceMs = 5000): Promise<void> =>
      (stopped ??= (async () => {
        rotation.stop();
        watchHub.close();
        exporter.stop();
        await running.shutdown(graceMs);
        await usage.stop();
        await store.close();
      })());
    return {
      address: running.address, port: running.port, adminToken, meshToken, memberToken: (member: string) => memberToken(memberTokenKey, member), store, exporter, running, stop,
      get signer() {
        return keys.current;
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/**
 * Development mode's answer to "who is calling": the admin token is `admin`, a member token names
 * its member, and the shared mesh token (which every gateway holds to reach the backup) is
 * `gateway`, which has no directory rights.
 */
function developmentCallers(adminToken: string, meshToken: string, memberTokenKey: string): CallerIdentity {
  const admin = new BearerCheck([adminToken]);
  const gateway = new BearerCheck([meshToken]);
  return (call) => {
    if (admin.allows(call.metadata)) return 'admin';
    if (gateway.allows(call.metadata)) return 'gateway';
    const values = call.metadata.get('authorization');
    if (values.length !== 1) return undefined;
    const m = /^Bearer (\S+)$/i.exec(String(values[0]));
    return m === null ? undefined : memberOfToken(memberTokenKey, m[1]!);
  };
}
