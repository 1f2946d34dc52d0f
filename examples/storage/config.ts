import { hostPort, nonEmpty, nonNegative, oneOf, parseConfig, positive, type ConfigOf } from '../../lib/config/index.js';
import { DEFAULT_ISSUER } from '../../lib/token/index.js';

/** Settings of the sample storage service: flag `--name`, or env `AUTHMESH_NAME`. */
export const STORAGE_OPTIONS = {
  listen: { type: 'string', describe: 'host:port to serve StorageService on (port 0 picks one)', default: '127.0.0.1:50091', check: hostPort },
  tenant: { type: 'string', describe: 'tenant whose tokens are accepted', check: nonEmpty },
  gateways: { type: 'list', describe: 'gateway endpoints to read the JWK Set from, home region first', default: '127.0.0.1:50050,127.0.0.1:50150' },
  'gateway-ca': { type: 'string', describe: 'PEM file of the CA of the gateways\' TLS certificates; empty = plaintext (local mesh only)', default: '' },
  'gateway-server-name': { type: 'string', describe: 'name the gateways\' certificates carry when it differs from the endpoint host', default: '' },
  resource: { type: 'string', describe: 'resource identifier this service is (the token audience)', default: 'https://storage.authmesh.local', check: nonEmpty },
  role: { type: 'string', describe: 'role a caller needs to read blobs', default: 'Blob.Read', check: nonEmpty },
  issuer: { type: 'string', describe: 'issuer base of the mesh', default: DEFAULT_ISSUER, check: nonEmpty },
  'clock-tolerance': { type: 'duration', describe: 'tolerated clock skew on exp and nbf', default: '5s', check: nonNegative },
  'jwks-refetch-interval': { type: 'duration', describe: 'an unknown kid refetches the key set at most this often', default: '30s', check: positive },
  'log-level': { type: 'string', describe: 'log level', default: 'info', check: oneOf('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent') },
} as const;

export type StorageConfig = ConfigOf<typeof STORAGE_OPTIONS>;

export function parseStorageConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): StorageConfig {
  const config = parseConfig(STORAGE_OPTIONS, argv, env);
  return Object.freeze(config);
}
