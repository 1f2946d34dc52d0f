import path from 'node:path';
import { ConfigError, hostPort, nonEmpty, nonNegative, oneOf, parseConfig, positive, type ConfigOf } from '../../lib/config/index.js';
import type { GatewayTlsOptions } from '../../client/gateway-tls.js';
import { DEFAULT_ISSUER } from '../../lib/token/index.js';
import { CONNECTION_AGE_OPTIONS } from '../../lib/grpc/connection-age.js';
import { MESH_TLS_OPTIONS, meshTlsFiles } from '../../lib/tls/index.js';
import { AGENT_SOCKET_NAME, MAX_SOCKET_PATH } from './agent-socket.js';

/** Where the agent's socket lives unless told otherwise; the client SDK's default endpoint is in it. */
export const DEFAULT_SOCKET_DIR = '/run/authmesh';

/** Settings of the managed identity agent: flag `--name`, or env `AUTHMESH_NAME`. */
export const AGENT_OPTIONS = {
  'socket-dir': {
    type: 'string',
    describe: `folder of the Unix socket (${AGENT_SOCKET_NAME}, mode 0660) local workloads reach the agent on; created with mode 0750 when missing`,
    default: DEFAULT_SOCKET_DIR,
    check: nonEmpty,
  },
  listen: { type: 'string', describe: 'also serve on this loopback host:port (port 0 picks one); empty = the Unix socket only', default: '' },
  tenant: { type: 'string', describe: 'tenant of the host identity', check: nonEmpty },
  client: { type: 'string', describe: 'client id of the host identity', check: nonEmpty },
  admin: { type: 'string', describe: 'host:port of global, where the credential is registered', default: '127.0.0.1:50051', check: hostPort },
  'admin-token-file': {
    type: 'string',
    describe: 'file with the bearer token for registering credentials: a host token (`authmesh host-token create`), limited to this identity\'s certificate credentials; locally the admin token also works',
    default: '.mesh/global/admin-token', check: nonEmpty,
  },
  gateways: { type: 'list', describe: 'gateway endpoints, home region first', default: '127.0.0.1:50050,127.0.0.1:50150' },
  'gateway-tls': { type: 'bool', describe: 'speak TLS to the gateways (on by itself with --gateway-ca; required in production mode)', default: 'false' },
  'gateway-ca': { type: 'string', describe: 'PEM file of the CA that signed the gateways\' certificates; empty = the system trust store', default: '' },
  'gateway-server-name': { type: 'string', describe: 'name the gateways\' certificates carry when it differs from the endpoint host', default: '' },
  'data-dir': { type: 'string', describe: 'folder for the identity key and its registration state', default: '.mesh/identity-agent', check: nonEmpty },
  'credential-validity': { type: 'duration', describe: 'validity of each registered credential', default: '24h', check: positive },
  'rotate-before': { type: 'duration', describe: 'a new credential replaces the current one this long before it expires', default: '8h', check: positive },
  'propagation-delay': { type: 'duration', describe: 'wait after registering a credential before using it, so every fault domain knows it', default: '3s', check: nonNegative },
  issuer: { type: 'string', describe: 'issuer base of the mesh', default: DEFAULT_ISSUER, check: nonEmpty },
  'log-level': { type: 'string', describe: 'log level', default: 'info', check: oneOf('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent') },
  ...MESH_TLS_OPTIONS,
  ...CONNECTION_AGE_OPTIONS,
} as const;

export type AgentConfig = ConfigOf<typeof AGENT_OPTIONS>;

export function parseAgentConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): AgentConfig {
  const config = parseConfig(AGENT_OPTIONS, argv, env);
  const problems: string[] = [];
  if (config['rotate-before'] >= config['credential-validity']) problems.push('rotate-before must be shorter than credential-validity');
  if (config.listen !== '' && (hostPort(config.listen) !== undefined || !/^(127\.\d+\.\d+\.\d+|localhost|\[::1\]):\d+$/.test(config.listen))) {
    problems.push(`listen must be a loopback host:port, got "${config.listen}"`);
  }
  const socket = path.resolve(config['socket-dir'], AGENT_SOCKET_NAME);
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) problems.push(`socket-dir is too long: ${socket} is over ${MAX_SOCKET_PATH} bytes, the limit of a Unix socket path`);
  if (config.mode === 'production' && gatewayTlsOf(config) === undefined) {
    problems.push('production mode requires TLS to the gateways: set --gateway-ca FILE or --gateway-tls (AUTHMESH_GATEWAY_CA, AUTHMESH_GATEWAY_TLS=true)');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  meshTlsFiles(config);
  return Object.freeze(config);
}

/** TLS to the gateways, undefined for plaintext (development only). */
export function gatewayTlsOf(config: AgentConfig): GatewayTlsOptions | undefined {
  if (!config['gateway-tls'] && config['gateway-ca'] === '') return undefined;
  return {
    ...(config['gateway-ca'] === '' ? {} : { caFile: config['gateway-ca'] }),
    ...(config['gateway-server-name'] === '' ? {} : { serverName: config['gateway-server-name'] }),
  };
}
