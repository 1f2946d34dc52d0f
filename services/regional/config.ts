import { hostPort, hostPortList, nonEmpty, nonNegative, oneOf, parseConfig, positive, regionName, type ConfigOf } from '../../lib/config/index.js';
import { ASSERTION_OPTIONS, DEFAULT_ISSUER } from '../../lib/token/index.js';
import { TELEMETRY_OPTIONS } from '../../lib/telemetry/index.js';
import { checkFaultInjection, FAULT_OPTIONS } from '../../lib/fault/index.js';
import { CONNECTION_AGE_OPTIONS } from '../../lib/grpc/connection-age.js';
import { MESH_TLS_OPTIONS, meshTlsFiles } from '../../lib/tls/index.js';

/** Every setting of a regional instance: flag `--name`, or env `AUTHMESH_NAME`. */
export const REGIONAL_OPTIONS = {
  region: { type: 'string', describe: 'region this instance serves, e.g. eastus', check: regionName },
  listen: { type: 'string', describe: 'host:port to serve TokenService on (port 0 picks one)', default: '127.0.0.1:50061', check: hostPort },
  global: { type: 'string', describe: 'host:port of global (DirectoryService); several instances as host:port,host:port', default: '127.0.0.1:50051', check: hostPortList },
  'mesh-token': { type: 'string', describe: 'member token of regional-<region> for DirectoryService (development mode); wins over --mesh-token-file', default: '' },
  'mesh-token-file': { type: 'string', describe: 'file holding the member token (default .mesh/global/members/regional-<region>)', default: '' },
  'data-dir': { type: 'string', describe: 'folder for the region signing key (default .mesh/regional-<region>)', default: '' },
  issuer: { type: 'string', describe: 'issuer base of access tokens, the same in every fault domain', default: DEFAULT_ISSUER, check: nonEmpty },
  'token-lifetime': { type: 'duration', describe: 'lifetime of access tokens', default: '1h', check: positive },
  'cache-capacity': { type: 'int', describe: 'most identities held in memory (LRU beyond that)', default: '100000', check: positive },
  'refresh-ttl': { type: 'duration', describe: 'cached entries are revalidated with global before their data is this old', default: '10m', check: positive },
  'negative-ttl': { type: 'duration', describe: 'how long an "unknown client" answer from global is cached', default: '5s', check: positive },
  'negative-cache-capacity': { type: 'int', describe: 'most "unknown client" answers held, apart from the identity cache (oldest out first)', default: '10000', check: positive },
  'fill-timeout': { type: 'duration', describe: 'longest a cache-miss fill from global may take', default: '3s', check: positive },
  'watch-idle-timeout': { type: 'duration', describe: 'a change feed silent this long is reconnected', default: '30s', check: positive },
  'signing-key-rotate-after': { type: 'duration', describe: 'the region signing key is replaced by a new one once it is this old (0 = never)', default: '30d', check: nonNegative },
  'usage-interval': { type: 'duration', describe: 'how often usage is reported to global', default: '5s', check: positive },
  'log-level': { type: 'string', describe: 'log level', default: 'info', check: oneOf('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent') },
  ...ASSERTION_OPTIONS,
  ...TELEMETRY_OPTIONS,
  ...FAULT_OPTIONS,
  ...MESH_TLS_OPTIONS,
  ...CONNECTION_AGE_OPTIONS,
} as const;

export type RegionalConfig = ConfigOf<typeof REGIONAL_OPTIONS> & { readonly dataDir: string };

/** Parses flags and environment once; throws ConfigError listing every problem. */
export function parseRegionalConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): RegionalConfig {
  const parsed = parseConfig(REGIONAL_OPTIONS, argv, env);
  checkFaultInjection(parsed['fault-injection'], env);
  meshTlsFiles(parsed);
  const dataDir = parsed['data-dir'] === '' ? `.mesh/regional-${parsed.region}` : parsed['data-dir'];
  return Object.freeze({ ...parsed, dataDir });
}
