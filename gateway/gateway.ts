/** Composition root of the gateway: builds the domain transports, the routing and both fronts, and serves. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { systemClock, type Clock } from '../lib/clock/index.js';
import { loadMeshTls, meshChannelCredentials, memberOfDomain, serve, tokenFileReader, type RunningServer, type ServiceBinding } from '../lib/grpc/index.js';
import { ConfigError } from '../lib/config/index.js';
import type { Logger } from '../lib/log/index.js';
import { adminBinding } from './routing/admin-service.js';
import { attemptTelemetry } from './routing/attempt-telemetry.js';
import type { RoutingOptions } from './routing/choose-domain.js';
import type { DomainSpec, GatewayConfig } from './config.js';
import { GrpcTokenBackend } from './transport/grpc-js.js';
import type { TokenBackend } from './routing/token-backend.js';
import { RelayTokenBackend } from './transport/relay.js';
import { Failover } from './routing/failover.js';
import { FaultDomain } from './routing/fault-domain.js';
import { SnapshotSource } from './routing/health-snapshot.js';
import { grpcOpenWatch, HealthWatch, type BackoffOptions } from './routing/health-watch.js';
import { startGrpcFront, type RunningGrpcFront } from './front/grpc-front.js';
import { startHttpFront, type RunningHttpFront } from './front/http-server.js';
import { RequestMetrics } from './front/request-metrics.js';
import { InFlightLimit, limitedForwarding } from './routing/in-flight.js';
import { TOKEN_SERVICE_NAME } from './pass-through.js';
import { RetryBudget } from './routing/retry-budget.js';
import { reflectionBindings } from './front/server.js';
import { certificateExpiryTelemetry } from '../lib/telemetry/expiry-metrics.js';

/** What the gateway is built from besides its config; all optional but the logger. */
export interface GatewayDeps {
  log: Logger;
  clock?: Clock;
  /** Builds the transport of a domain; default the one `config.transport` names (relay when unset). */
  backend?: (spec: DomainSpec) => TokenBackend;
  /** Watch grpc.health.v1 on every domain. Default true. */
  healthWatch?: boolean;
  /** Reconnect backoff of the health watches. */
  watchBackoff?: BackoffOptions;
  routing?: RoutingOptions;
  /** Root of the .proto files for reflection. */
  protoRoot?: string;
}

/** A gateway that is serving. */
export interface RunningGateway {
  address: string;
  port: number;
  domains: readonly FaultDomain[];
  failover: Failover;
  budget: RetryBudget;
  /** The inner grpc-js server (health, reflection, admin) behind the public front. */
  server: RunningServer;
  /** The HTTPS OAuth 2.0 / OpenID Connect front, when configured. */
  http?: RunningHttpFront;
  /** Stops taking calls, drains for up to graceMs, then closes every domain. */
  shutdown(graceMs?: number): Promise<void>;
}

/** Builds the fault domains, the failover loop and the server, and starts serving. */
export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<RunningGateway> {
  const clock = deps.clock ?? systemClock;
  const log = deps.log;
  const watches: { close(): void }[] = [];
  const { backupToken, statusToken } = meshTokens(config, clock);
  const domains = buildDomains(config, deps, clock, backupToken, watches);
  certificateExpiryTelemetry([
    ...(config.meshTls === undefined ? [] : [{ name: 'mesh', file: config.meshTls.cert }]),
    ...(config.grpcTls === undefined ? [] : [{ name: 'grpc-public', file: config.grpcTls.certFile }]),
    ...(config.http?.tlsCertFile === undefined ? [] : [{ name: 'https-public', file: config.http.tlsCertFile }]),
  ]);
  const snapshots = new SnapshotSource(domains, clock, config.snapshotMaxAgeMs);
  logDomainEvents(domains, snapshots, log);
  const budget = new RetryBudget(config.retry, clock);
  const failover = new Failover(domains, snapshots, budget, clock, {
    defaultDeadlineMs: config.defaultDeadlineMs,
    attemptTimeoutMs: config.attemptTimeoutMs,
    ...(config.hedgeAfterMs === undefined ? {} : { hedgeAfterMs: config.hedgeAfterMs }),
    ...(deps.routing ? { routing: deps.routing } : {}),
    observer: attemptTelemetry(domains),
    onNoAnswer: (said) => log.warn({ said }, 'no fault domain could answer'),
  });
  const startedAt = clock.now();
  const requestMetrics = new RequestMetrics();
  // One count of token calls in flight over both fronts (--max-in-flight).
  const inFlightLimit = new InFlightLimit(config.maxInFlight ?? Infinity);
  let address = config.listen;
  const inner = await startInnerServer(deps, [
    adminBinding({ region: config.region, listen: () => address, domains, budget, clock, startedAt, ...(deps.routing ? { routing: deps.routing } : {}) }, statusToken),
  ]);
  const { front, http } = await startFronts(config, { log, failover, inner, requestMetrics, inFlightLimit });
  address = front.address;
  for (const d of domains) d.start();
  return {
    address: front.address,
    port: front.port,
    domains,
    failover,
    budget,
    server: inner.server,
    ...(http === undefined ? {} : { http }),
    async shutdown(graceMs = 5_000) {
      inner.server.setServing('NOT_SERVING');
      await Promise.all([front.close(graceMs), http?.close()]);
      await inner.close();
      failover.close();
      for (const d of domains) d.close();
      for (const w of watches) w.close();
    },
  };
}

/**
 * The backup's mesh token, re-read every few seconds so a replaced file is picked up, and the one
 * GetStatus answers. The backup's must be readable at start: a wrong path would otherwise fail
 * every call to the backup, unnoticed.
 */
function meshTokens(config: GatewayConfig, clock: Clock): { backupToken: (() => string | undefined) | undefined; statusToken: () => string | undefined } {
  const backupToken = (config.backupTokenFile ?? '') === '' ? undefined : tokenFileReader(config.backupTokenFile!, 5000, clock);
  if (backupToken !== undefined && backupToken() === undefined) {
    throw new ConfigError([`--backup-token-file: cannot read a token from ${config.backupTokenFile!}`]);
  }
  // GetStatus shares the public port: it answers only the mesh token (--status-token-file, by
  // default the backup's), and nobody when there is none.
  const statusTokenFile = config.statusTokenFile ?? config.backupTokenFile ?? '';
  const statusToken = statusTokenFile === '' ? () => undefined : statusTokenFile === config.backupTokenFile && backupToken !== undefined ? backupToken : tokenFileReader(statusTokenFile, 5000, clock);
  return { backupToken, statusToken };
}

/** A fault domain per configured domain, in priority order, each with its transport and health watch. */
function buildDomains(config: GatewayConfig, deps: GatewayDeps, clock: Clock, backupToken: (() => string | undefined) | undefined, watches: { close(): void }[]): FaultDomain[] {
  const loadedTls = config.meshTls === undefined ? undefined : loadMeshTls(config.meshTls);
  return config.domains.map((spec, priority) => {
    // Each domain's channels (health watch included) accept only the member that serves it, so
    // another mesh member's certificate cannot impersonate global or the region's regional.
    const meshTls = loadedTls === undefined ? undefined : { ...loadedTls, expectPeer: memberOfDomain(spec.name) };
    const meshCredentials = meshChannelCredentials(meshTls);
    const bearer = spec.name === 'backup' && backupToken !== undefined ? { bearerToken: backupToken } : {};
    const backend =
      deps.backend?.(spec) ??
      (config.transport === 'grpc-js'
        ? new GrpcTokenBackend(spec.name, spec.address, { channels: config.channels, ...bearer, channelCredentials: meshCredentials })
        : new RelayTokenBackend(spec.name, spec.address, { channels: config.channels, ...bearer, ...(meshTls === undefined ? {} : { tls: meshTls }) }));
    const withWatch = deps.healthWatch ?? true;
    return new FaultDomain({
      priority,
      backend,
      clock,
      breaker: config.breaker,
      ...(config.outlier === undefined ? {} : { outlier: config.outlier }),
      stats: { windowMs: config.breaker.rollingCountTimeout, buckets: config.breaker.rollingCountBuckets },
      ...(withWatch
        ? {
            healthWatch: (onChange) => {
              const { openWatch, client } = grpcOpenWatch(spec.address, meshCredentials);
              watches.push(client);
              return new HealthWatch({ serviceName: TOKEN_SERVICE_NAME, openWatch, onChange, ...(deps.watchBackoff ? { backoff: deps.watchBackoff } : {}) });
            },
          }
        : {}),
    });
  });
}

/** Logs breaker, ejection and health changes, and retakes the routing snapshot on each. */
function logDomainEvents(domains: readonly FaultDomain[], snapshots: SnapshotSource, log: Logger): void {
  for (const d of domains) {
    d.on('breaker', (state) => {
      snapshots.invalidate();
      log.warn({ domain: d.name, breaker: state }, `breaker ${state}`);
    });
    d.on('ejected', (e) => log.warn({ domain: e.domain, timeouts: e.timeouts, ms: e.atMs - e.firstTimeoutAtMs }, `${e.domain} ejected after ${e.timeouts} attempt timeouts in a row`));
    d.on('health', (health) => {
      snapshots.invalidate();
      log.info({ domain: d.name, health }, `health ${health}`);
    });
  }
}

/** The inner grpc-js server and the private socket it listens on. */
interface InnerServer {
  server: RunningServer;
  socket: string;
  /** Shuts the server down and removes its socket's directory. */
  close(): Promise<void>;
}

/**
 * Health, reflection and the admin service run on grpc-js behind a private Unix socket; the
 * public listener answers TokenService itself and relays everything else there.
 */
async function startInnerServer(deps: GatewayDeps, services: ServiceBinding[]): Promise<InnerServer> {
  const innerDir = mkdtempSync(path.join(os.tmpdir(), 'authmesh-gateway-'));
  const socket = path.join(innerDir, 'inner.sock');
  const server = await serve({
    listen: `unix:${socket}`,
    // One client, the public front, on a private socket: no reason to make it reconnect.
    connectionAge: { maxAgeMs: 0, graceMs: 0 },
    healthServices: [TOKEN_SERVICE_NAME],
    services: [...services, ...reflectionBindings(deps.protoRoot)],
  });
  return {
    server,
    socket,
    async close() {
      await server.shutdown(0);
      rmSync(innerDir, { recursive: true, force: true });
    },
  };
}

/** Starts the public gRPC front and, when configured, the HTTPS front; on failure closes what started. */
async function startFronts(
  config: GatewayConfig,
  { log, failover, inner, requestMetrics, inFlightLimit }: { log: Logger; failover: Failover; inner: InnerServer; requestMetrics: RequestMetrics; inFlightLimit: InFlightLimit },
): Promise<{ front: RunningGrpcFront; http: RunningHttpFront | undefined }> {
  let front: RunningGrpcFront;
  try {
    front = await startGrpcFront({
      listen: config.listen,
      ...(config.grpcTls === undefined ? {} : { tls: { cert: readFileSync(config.grpcTls.certFile), key: readFileSync(config.grpcTls.keyFile) } }),
      forwarder: failover,
      inner: { connect: () => http2.connect('http://localhost', { createConnection: () => net.connect(inner.socket) }) },
      log,
      inFlightLimit,
      requestMetrics,
      ...(config.frontLimits === undefined ? {} : { limits: config.frontLimits }),
      ...(config.connectionAge === undefined ? {} : { connectionAge: config.connectionAge }),
    });
  } catch (error) {
    await inner.close();
    throw error;
  }
  try {
    const http = config.http === undefined ? undefined : await startHttpFront(config.http, { failover: limitedForwarding(failover, inFlightLimit), log, requestMetrics });
    return { front, http };
  } catch (error) {
    await Promise.all([front.close(0), inner.close()]);
    throw error;
  }
}
