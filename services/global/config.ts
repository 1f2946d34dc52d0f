import { hostPort, nonEmpty, nonNegative, oneOf, parseConfig, positive, type ConfigOf } from '../../lib/config/index.js';
import { ASSERTION_OPTIONS, DEFAULT_ISSUER } from '../../lib/token/index.js';
import { TELEMETRY_OPTIONS } from '../../lib/telemetry/index.js';
import { checkFaultInjection, FAULT_OPTIONS } from '../../lib/fault/index.js';
import { CONNECTION_AGE_OPTIONS } from '../../lib/grpc/connection-age.js';
import { MESH_TLS_OPTIONS, meshTlsFiles } from '../../lib/tls/index.js';

const issuerUrl = (value: unknown): string | undefined => {
  const text = String(value);
  try {
    const url = new URL(text);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return `expected an http(s) URL, got "${text}"`;
  } catch {
    return `expected an absolute URL, got "${text}"`;
  }
  return text.endsWith('/') ? `must not end with "/", got "${text}"` : undefined;
};

const storeUrl = (value: unknown): string | undefined => {
  const text = String(value);
  if (!/^postgres(ql)?:/.test(text)) return undefined;
  if (!/^postgres(ql)?:\/\/([^:@/]*(:[^@/]*)?@)?[^/?@]+(\/[^?]*)?(\?.*)?$/.test(text)) return 'expected postgres://user@host:port[,host:port]/database';
  return /^postgres(ql)?:\/\/[^:@/]*:[^@/]*@/.test(text) ? 'must not carry a password: use --store-password-file or AUTHMESH_STORE_PASSWORD' : undefined;
};

const atMostOneDay = (value: unknown): string | undefined =>
  positive(value) ?? (Number(value) <= 86_400_000 && Number(value) % 1000 === 0 ? undefined : 'must be whole seconds, at most 24h');

/** Options of the global authority; each also reads AUTHMESH_<NAME>. */
export const GLOBAL_OPTIONS = {
  listen: { type: 'string', describe: 'address to serve gRPC on (host:port, port 0 picks one)', default: '127.0.0.1:50051', check: hostPort },
  'data-dir': {
    type: 'string',
    describe: 'folder for directory.db, signing-key.pem, admin-token and mesh-token',
    default: '.mesh/global',
    check: nonEmpty,
  },
  store: {
    type: 'string',
    describe: 'directory store: a SQLite file, sqlite:<path>, or postgres://user@host:port[,host:port]/database (password from --store-password-file or AUTHMESH_STORE_PASSWORD); empty for <data-dir>/directory.db',
    default: '',
    check: storeUrl,
  },
  instance: {
    type: 'string',
    describe: 'name of this instance when several global instances share one store (e.g. global-1); its key is published as global/<instance>',
    default: '',
    check: (v: unknown) => (v === '' || /^[a-z0-9][a-z0-9-]{0,31}$/.test(String(v)) ? undefined : 'lowercase letters, digits and -, at most 32'),
  },
  'store-password-file': { type: 'string', describe: 'file holding the PostgreSQL password (first line)', default: '' },
  issuer: { type: 'string', describe: 'issuer base URL; tokens carry <issuer>/<tenant>/v2.0', default: DEFAULT_ISSUER, check: issuerUrl },
  'token-lifetime': { type: 'duration', describe: 'access token lifetime', default: '1h', check: atMostOneDay },
  'watch-heartbeat': { type: 'duration', describe: 'heartbeat interval on idle watch streams', default: '5s', check: positive },
  'usage-flush': { type: 'duration', describe: 'how often recorded usage is written', default: '1s', check: positive },
  'backup-dir': { type: 'string', describe: 'backup store folder for signed snapshots; empty for <data-dir>/backups', default: '' },
  'signing-key-rotate-after': { type: 'duration', describe: 'global signing key is replaced by a new one once it is this old (0 = never)', default: '30d', check: nonNegative },
  'backup-interval': { type: 'duration', describe: 'time between backup exports; 0 exports only on demand', default: '30s', check: nonNegative },
  'backup-keep': { type: 'int', describe: 'newest backup snapshots kept in the store', default: '5', check: positive },
  'snapshot-identities': { type: 'int', describe: 'identities in a snapshot when the caller asks for 0', default: '5000', check: positive },
  'log-level': {
    type: 'string',
    describe: 'log level',
    default: 'info',
    check: oneOf('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'),
  },
  'max-concurrent': { type: 'int', describe: 'TokenService calls served at once (admission control)', default: '64', check: positive },
  'max-queue': { type: 'int', describe: 'calls waiting for a slot; beyond it RESOURCE_EXHAUSTED (overloaded) at once', default: '256', check: nonNegative },
  'max-queue-wait': { type: 'duration', describe: 'longest a call waits for a slot before RESOURCE_EXHAUSTED', default: '500ms', check: nonNegative },
  ...ASSERTION_OPTIONS,
  ...TELEMETRY_OPTIONS,
  ...FAULT_OPTIONS,
  ...MESH_TLS_OPTIONS,
  ...CONNECTION_AGE_OPTIONS,
} as const;

export type GlobalConfig = ConfigOf<typeof GLOBAL_OPTIONS>;

export function parseGlobalConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): GlobalConfig {
  const config = parseConfig(GLOBAL_OPTIONS, argv, env);
  checkFaultInjection(config['fault-injection'], env);
  meshTlsFiles(config);
  return config;
}
