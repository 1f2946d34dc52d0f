/** The gateway's flags and environment, validated at start into a GatewayConfig. */
import { ConfigError, hostPort, hostPortList, nonNegative, oneOf, parseConfig, positive, regionName, type ConfigOf, type OptionSpecs } from '../lib/config/index.js';
import { checkBreakerOptions, DEFAULT_BREAKER_OPTIONS, type BreakerOptions } from './routing/breaker-factory.js';
import { DEFAULT_OUTLIER_OPTIONS, type OutlierOptions } from './routing/outlier-detection.js';
import { FRONT_LIMITS, type FrontLimits } from './front/grpc-front.js';
import { HTTP_OPTIONS, httpFrontConfig, type HttpFrontConfig } from './front/http-config.js';
import { defaultRefillPerSecond, type RetryBudgetOptions } from './routing/retry-budget.js';
import { TELEMETRY_OPTIONS } from '../lib/telemetry/index.js';
import { CONNECTION_AGE_OPTIONS, connectionAgeOf, type ConnectionAgeLimits } from '../lib/grpc/connection-age.js';
import { MESH_TLS_OPTIONS, meshTlsFiles, type MeshCertFiles } from '../lib/tls/index.js';

const optionalHostPort = (v: unknown): string | undefined => (String(v) === '' ? undefined : hostPort(v));
const between = (lo: number, hi: number) => (v: unknown): string | undefined =>
  typeof v === 'number' && v >= lo && v <= hi ? undefined : `must be ${lo}..${hi}, got ${String(v)}`;
const atLeastOne = (v: unknown): string | undefined => (typeof v === 'number' && v >= 1 ? undefined : `must be 1 or more, got ${String(v)}`);
const ratio = (v: unknown): string | undefined => {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 && n <= 1 ? undefined : `expected a number in (0, 1], got "${String(v)}"`;
};

const optionalRate = (v: unknown): string | undefined => {
  if (String(v) === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? undefined : `expected a number >= 0, got "${String(v)}"`;
};

/** Flags of the gateway (each also readable as AUTHMESH_<NAME>). */
export const GATEWAY_OPTIONS = {
  region: { type: 'string', describe: 'region this gateway serves, e.g. eastus', check: regionName },
  listen: { type: 'string', describe: 'host:port to listen on (port 0 picks one)', default: '127.0.0.1:50050', check: hostPort },
  regional: { type: 'string', describe: 'host:port of the home regional instance', check: hostPort },
  global: { type: 'string', describe: 'host:port of global; several instances (one fault domain) as host:port,host:port', default: '127.0.0.1:50051', check: hostPortList },
  backup: { type: 'string', describe: 'host:port of backup; empty for none', default: '', check: optionalHostPort },
  'backup-token-file': { type: 'string', describe: 'file holding the mesh token sent to the backup domain (authorization: Bearer); read at start and every 5 s', default: '' },
  'status-token-file': { type: 'string', describe: 'file holding the mesh token GatewayAdminService.GetStatus requires (authorization: Bearer); empty = the --backup-token-file token; with neither, GetStatus refuses every call', default: '' },
  'default-deadline': { type: 'duration', describe: 'deadline of a call whose caller set none', default: '5s', check: positive },
  'attempt-timeout': { type: 'duration', describe: 'longest single attempt on one domain (hang detection)', default: '1s', check: positive },
  'hedge-after': { type: 'duration', describe: 'ask the next domain too when an attempt has not answered after this long (0 = off)', default: '150ms', check: nonNegative },
  'breaker-error-threshold': { type: 'int', describe: 'fault percentage in the window that opens a breaker', default: String(DEFAULT_BREAKER_OPTIONS.errorThresholdPercentage), check: between(1, 100) },
  'breaker-volume-threshold': { type: 'int', describe: 'calls in the window before a breaker may open (>= 1)', default: String(DEFAULT_BREAKER_OPTIONS.volumeThreshold), check: atLeastOne },
  'breaker-window': { type: 'duration', describe: 'rolling window of a breaker', default: `${DEFAULT_BREAKER_OPTIONS.rollingCountTimeout}ms`, check: positive },
  'breaker-buckets': { type: 'int', describe: 'buckets in the rolling window (must divide it)', default: String(DEFAULT_BREAKER_OPTIONS.rollingCountBuckets), check: atLeastOne },
  'breaker-reset-timeout': { type: 'duration', describe: 'time a breaker stays open before a probe', default: `${DEFAULT_BREAKER_OPTIONS.resetTimeout}ms`, check: positive },
  'outlier-consecutive-timeouts': { type: 'int', describe: 'attempt timeouts in a row that open a domain\'s breaker at once, whatever its window holds (0 = off)', default: String(DEFAULT_OUTLIER_OPTIONS.consecutiveTimeouts), check: between(0, 1000) },
  'breaker-capacity': { type: 'int', describe: 'attempts in flight per domain before refusing', default: String(DEFAULT_BREAKER_OPTIONS.capacity), check: atLeastOne },
  'retry-max-tokens': { type: 'int', describe: 'retry budget capacity (gRFC A6 maxTokens)', default: '100', check: atLeastOne },
  'retry-token-ratio': { type: 'string', describe: 'tokens earned back per success (gRFC A6 tokenRatio)', default: '0.1', check: ratio },
  'retry-refill': { type: 'string', describe: 'tokens each domain earns back per second whatever its traffic (default: retry-max-tokens / 20)', default: '', check: optionalRate },
  'max-in-flight': { type: 'int', describe: 'TokenService calls in flight; beyond it RESOURCE_EXHAUSTED (overloaded) at once', default: '2048', check: atLeastOne },
  'max-streams-per-connection': { type: 'int', describe: 'streams a caller may have open at once on one connection to the public gRPC port', default: String(FRONT_LIMITS.maxStreamsPerConnection), check: between(1, 10_000) },
  'max-session-memory-mb': { type: 'int', describe: 'answer bytes one connection to the public gRPC port may hold unsent (its caller not reading), MB; past it the connection is closed', default: String(FRONT_LIMITS.maxSessionMemoryMb), check: between(1, 1024) },
  'max-buffered-request-bytes': { type: 'int', describe: 'request bytes held over all unfinished token calls; past it new bytes are refused with RESOURCE_EXHAUSTED', default: String(FRONT_LIMITS.maxBufferedBytes), check: between(64 * 1024, 4 * 1024 * 1024 * 1024) },
  'request-body-timeout': { type: 'duration', describe: 'time a token call may take to send its request body; past it DEADLINE_EXCEEDED', default: `${FRONT_LIMITS.requestBodyTimeoutMs}ms`, check: positive },
  channels: { type: 'int', describe: 'HTTP/2 connections per fault domain', default: '1', check: between(1, 16) },
  transport: {
    type: 'string',
    describe: 'how token calls reach the domains: relay (many calls per TokenRelayService stream; calls of their own where a domain has no relay) or grpc-js (a grpc-js client call each)',
    default: 'relay',
    check: oneOf('relay', 'grpc-js'),
  },
  'snapshot-max-age': { type: 'duration', describe: 'how long a routing snapshot is reused', default: '100ms', check: nonNegative },
  'log-level': { type: 'string', describe: 'log level', default: 'info', check: oneOf('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent') },
  ...HTTP_OPTIONS,
  ...MESH_TLS_OPTIONS,
  ...CONNECTION_AGE_OPTIONS,
  'grpc-tls': { type: 'bool', describe: 'serve the public gRPC TokenService over TLS with the --tls-cert/--tls-key certificate', default: 'false' },
  ...TELEMETRY_OPTIONS,
} as const satisfies OptionSpecs;

/** One fault domain to route to. */
export interface DomainSpec {
  /** `regional/<region>`, `global` or `backup`; also the fault_domain the domain reports. */
  name: string;
  address: string;
}

/** Everything the gateway needs, parsed and checked. */
export interface GatewayConfig {
  region: string;
  listen: string;
  /** In priority order: home regional, global, backup (when configured). */
  domains: readonly DomainSpec[];
  /** File with the mesh token the backup domain requires; empty for none. */
  backupTokenFile?: string;
  /** File with the token GetStatus requires; undefined or empty = backupTokenFile. */
  statusTokenFile?: string;
  defaultDeadlineMs: number;
  attemptTimeoutMs: number;
  /** Hedging delay, ms; 0 turns hedging off. */
  hedgeAfterMs?: number;
  breaker: BreakerOptions;
  /** Consecutive-timeout ejection (default 5 in a row). */
  outlier?: OutlierOptions;
  retry: Required<RetryBudgetOptions>;
  channels: number;
  /** How token calls reach the domains (default relay). */
  transport?: 'relay' | 'grpc-js';
  /** TokenService calls in flight before new ones are shed with RESOURCE_EXHAUSTED. */
  maxInFlight?: number;
  /** What callers can make the public gRPC front hold (streams, memory, buffered bytes, body time). */
  frontLimits?: FrontLimits;
  /** When a connection to the public gRPC port gets GOAWAY; default 5 min and 30 s of grace. */
  connectionAge?: ConnectionAgeLimits;
  snapshotMaxAgeMs: number;
  logLevel: string;
  /** The HTTPS OAuth 2.0 / OpenID Connect front; undefined when off. */
  http?: HttpFrontConfig;
  /** Mutual TLS to the fault domains; plaintext (development) when absent. */
  meshTls?: MeshCertFiles;
  /** Certificate and key files of the public gRPC port when it serves TLS; plaintext when absent. */
  grpcTls?: { certFile: string; keyFile: string };
}

/** Builds a {@link GatewayConfig} from flags and environment; throws ConfigError listing every problem. */
export function parseGatewayConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): GatewayConfig {
  const c: ConfigOf<typeof GATEWAY_OPTIONS> = parseConfig(GATEWAY_OPTIONS, argv, env);
  const breaker: BreakerOptions = {
    errorThresholdPercentage: c['breaker-error-threshold'],
    volumeThreshold: c['breaker-volume-threshold'],
    rollingCountTimeout: c['breaker-window'],
    rollingCountBuckets: c['breaker-buckets'],
    resetTimeout: c['breaker-reset-timeout'],
    capacity: c['breaker-capacity'],
  };
  const problems = checkBreakerOptions(breaker).map((p) => `breaker: ${p}`);
  if (c['attempt-timeout'] > c['default-deadline']) problems.push('--attempt-timeout must not be longer than --default-deadline');
  const addresses = [c.regional, c.global, c.backup].filter((a) => a !== '');
  if (new Set(addresses).size !== addresses.length) problems.push('--regional, --global and --backup must be different addresses');
  const http = httpFrontConfig(c, problems);
  if (c['grpc-tls'] && (c['tls-cert'] === '' || c['tls-key'] === '')) problems.push('--grpc-tls needs --tls-cert and --tls-key');
  problems.push(...productionPublicTlsProblems(c));
  let meshTls: MeshCertFiles | undefined;
  try {
    meshTls = meshTlsFiles(c);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const domains: DomainSpec[] = [
    { name: `regional/${c.region}`, address: c.regional },
    { name: 'global', address: c.global },
    ...(c.backup === '' ? [] : [{ name: 'backup', address: c.backup }]),
  ];
  return Object.freeze({
    region: c.region,
    listen: c.listen,
    domains: Object.freeze(domains),
    backupTokenFile: c['backup-token-file'],
    ...(c['status-token-file'] === '' ? {} : { statusTokenFile: c['status-token-file'] }),
    defaultDeadlineMs: c['default-deadline'],
    attemptTimeoutMs: c['attempt-timeout'],
    hedgeAfterMs: c['hedge-after'],
    breaker: Object.freeze(breaker),
    outlier: Object.freeze({ consecutiveTimeouts: c['outlier-consecutive-timeouts'] }),
    retry: Object.freeze({
      maxTokens: c['retry-max-tokens'],
      tokenRatio: Number(c['retry-token-ratio']),
      refillPerSecond: c['retry-refill'] === '' ? defaultRefillPerSecond(c['retry-max-tokens']) : Number(c['retry-refill']),
    }),
    channels: c.channels,
    transport: c.transport as 'relay' | 'grpc-js',
    maxInFlight: c['max-in-flight'],
    frontLimits: Object.freeze({
      maxStreamsPerConnection: c['max-streams-per-connection'],
      maxSessionMemoryMb: c['max-session-memory-mb'],
      maxBufferedBytes: c['max-buffered-request-bytes'],
      requestBodyTimeoutMs: c['request-body-timeout'],
    }),
    connectionAge: Object.freeze(connectionAgeOf(c)),
    snapshotMaxAgeMs: c['snapshot-max-age'],
    logLevel: c['log-level'],
    ...(http === undefined ? {} : { http }),
    ...(meshTls === undefined ? {} : { meshTls }),
    ...(c['grpc-tls'] ? { grpcTls: { certFile: c['tls-cert'], keyFile: c['tls-key'] } } : {}),
  });
}

/**
 * Production mode serves the public ports over TLS only: plaintext there lets a man in the middle
 * read client secrets and assertions, or hand verifiers a key set of its own.
 */
function productionPublicTlsProblems(c: ConfigOf<typeof GATEWAY_OPTIONS>): string[] {
  if (c.mode !== 'production') return [];
  const problems: string[] = [];
  if (!c['grpc-tls']) {
    problems.push('production mode requires TLS on the public gRPC port: set --grpc-tls with --tls-cert and --tls-key (AUTHMESH_GRPC_TLS=true, AUTHMESH_TLS_CERT, AUTHMESH_TLS_KEY), or run with --mode development');
  }
  if (c['http-listen'] !== '' && c['http-plaintext']) problems.push('production mode refuses --http-plaintext: the HTTP front serves TLS with --tls-cert and --tls-key');
  else if (c['http-listen'] !== '' && c['tls-cert'] === '') problems.push('production mode requires --tls-cert and --tls-key for the HTTP front (the development certificate is for local meshes only)');
  return problems;
}
