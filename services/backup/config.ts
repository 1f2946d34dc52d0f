import { hostPort, nonEmpty, oneOf, parseConfig, positive, type ConfigOf } from '../../lib/config/index.js';
import { ASSERTION_OPTIONS, DEFAULT_ISSUER } from '../../lib/token/index.js';
import { TELEMETRY_OPTIONS } from '../../lib/telemetry/index.js';
import { checkFaultInjection, FAULT_OPTIONS } from '../../lib/fault/index.js';
import { CONNECTION_AGE_OPTIONS } from '../../lib/grpc/connection-age.js';
import { MESH_TLS_OPTIONS, meshTlsFiles } from '../../lib/tls/index.js';

const atMostOneDay = (value: unknown): string | undefined =>
  positive(value) ?? (Number(value) <= 86_400_000 && Number(value) % 1000 === 0 ? undefined : 'must be whole seconds, at most 24h');

/**
 * Options of the backup fault domain; each also reads AUTHMESH_<NAME>. There is deliberately no
 * option naming global or a regional instance: the backup reads only its snapshot store.
 */
export const BACKUP_OPTIONS = {
  listen: { type: 'string', describe: 'address to serve gRPC on (host:port, port 0 picks one)', default: '127.0.0.1:50071', check: hostPort },
  'data-dir': { type: 'string', describe: 'folder for signing-key.pem (made by `authmesh backup init`)', default: '.mesh/backup', check: nonEmpty },
  'store-dir': { type: 'string', describe: 'backup store folder the snapshots are read from', check: nonEmpty },
  'export-public-key': { type: 'string', describe: 'PEM public key snapshots must be signed with (global writes export-key.pub.pem)', check: nonEmpty },
  'mesh-token-file': { type: 'string', describe: 'file holding the mesh token gateways present (authorization: Bearer)', check: nonEmpty },
  issuer: { type: 'string', describe: 'issuer base URL, the same as the primary', default: DEFAULT_ISSUER, check: nonEmpty },
  'token-lifetime': { type: 'duration', describe: 'access token lifetime (shorter than the primary)', default: '15m', check: atMostOneDay },
  'coverage-window': { type: 'duration', describe: 'serve identities that authenticated through the primary this recently', default: '3d', check: positive },
  'max-staleness': { type: 'duration', describe: 'refuse (backup-stale, NOT_SERVING) once the newest snapshot is older', default: '1h', check: positive },
  'poll-interval': { type: 'duration', describe: 'how often the store is checked for a newer snapshot', default: '5s', check: positive },
  'log-level': { type: 'string', describe: 'log level', default: 'info', check: oneOf('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent') },
  ...ASSERTION_OPTIONS,
  ...TELEMETRY_OPTIONS,
  ...FAULT_OPTIONS,
  ...MESH_TLS_OPTIONS,
  ...CONNECTION_AGE_OPTIONS,
} as const;

export type BackupConfig = ConfigOf<typeof BACKUP_OPTIONS>;

export function parseBackupConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): BackupConfig {
  const config = parseConfig(BACKUP_OPTIONS, argv, env);
  checkFaultInjection(config['fault-injection'], env);
  meshTlsFiles(config);
  return config;
}
