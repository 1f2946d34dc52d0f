import { readFileSync } from 'node:fs';
import { systemClock, type Clock } from '../lib/clock/index.js';
import { ServerCredentials } from '@grpc/grpc-js';
import { loadMeshTls, meshChannelCredentials, serve, type RunningServer } from '../lib/grpc/index.js';
import type { Logger } from '../lib/log/index.js';
import { adminBinding } from './admin-service.js';
import { attemptTelemetry } from './attempt-telemetry.js';
import type { RoutingOptions } from './choose-domain.js';
import type { DomainSpec, GatewayConfig } from './config.js';
import { GrpcTokenBackend, type TokenBackend } from './domain-client.js';
import { Http2TokenBackend } from './domain-client-http2.js';
import { Failover } from './failover.js';
import { FaultDomain } from './fault-domain.js';
import { SnapshotSource } from './health-snapshot.js';
import { grpcOpenWatch, HealthWatch, type BackoffOptions } from './health-watch.js';
import { startHttpFront, type RunningHttpFront } from './http-server.js';
import { TOKEN_SERVICE_NAME } from './pass-through.js';
import { RetryBudget } from './retry-budget.js';
import { reflectionBindings, tokenBinding } from './server.js';

/** What the gateway is built from besides its config; all optional but the logger. */
export interface GatewayDeps {
  log: Logger;
  clock?: Clock;
  /** Builds the transport of a domain; default grpc-js with pass-through serializers. */
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
  const backupToken = (config.backupTokenFile ?? '') === '' ? undefined : readFileSync(config.backupTokenFile!, 'utf8').trim();
  // One set of mesh credentials for every domain channel, health watches included.
  const meshTls = config.meshTls === undefined ? undefined : loadMeshTls(config.meshTls);
  const meshCredentials = meshChannelCredentials(meshTls);
  const domains = config.domains.map((spec, priority) => {
    const bearer = spec.name === 'backup' && backupToken !== undefined ? { bearerToken: backupToken } : {};
    const backend =
      deps.backend?.(spec) ??
      (config.transport === 'grpc-js'
        ? new GrpcTokenBackend(spec.name, spec.address, { channels: config.channels, ...bearer, channelCredentials: meshCredentials })
        : new Http2TokenBackend(spec.name, spec.address, { channels: config.channels, ...bearer, ...(meshTls === undefined ? {} : { tls: meshTls }) }));
    const withWatch = deps.healthWatch ?? true;
    return new FaultDomain({
      priority,
      backend,
      clock,
      breaker: config.breaker,
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
  const snapshots = new SnapshotSource(domains, clock, config.snapshotMaxAgeMs);
  for (const d of domains) {
    d.on('breaker', (state) => {
      snapshots.invalidate();
      log.warn({ domain: d.name, breaker: state }, `breaker ${state}`);
    });
    d.on('health', (health) => {
      snapshots.invalidate();
      log.info({ domain: d.name, health }, `health ${health}`);
    });
  }
  const budget = new RetryBudget(config.retry);
  const failover = new Failover(domains, snapshots, budget, clock, {
    defaultDeadlineMs: config.defaultDeadlineMs,
    attemptTimeoutMs: config.attemptTimeoutMs,
    ...(config.hedgeAfterMs === undefined ? {} : { hedgeAfterMs: config.hedgeAfterMs }),
    ...(deps.routing ? { routing: deps.routing } : {}),
    observer: attemptTelemetry(domains),
  });
  const startedAt = clock.now();
  let address = config.listen;
  const server = await serve({
    listen: config.listen,
    ...(config.grpcTls === undefined
      ? {}
      : { credentials: ServerCredentials.createSsl(null, [{ cert_chain: readFileSync(config.grpcTls.certFile), private_key: readFileSync(config.grpcTls.keyFile) }], false) }),
    services: [
      tokenBinding(failover, log, config.maxInFlight),
      adminBinding({ region: config.region, listen: () => address, domains, budget, clock, startedAt, ...(deps.routing ? { routing: deps.routing } : {}) }),
      ...reflectionBindings(deps.protoRoot),
    ],
  });
  address = server.address;
  let http: RunningHttpFront | undefined;
  try {
    http = config.http === undefined ? undefined : await startHttpFront(config.http, { failover, log });
  } catch (error) {
    await server.shutdown(0);
    throw error;
  }
  for (const d of domains) d.start();
  return {
    address: server.address,
    port: server.port,
    domains,
    failover,
    budget,
    server,
    ...(http === undefined ? {} : { http }),
    async shutdown(graceMs = 5_000) {
      await Promise.all([server.shutdown(graceMs), http?.close()]);
      for (const d of domains) d.close();
      for (const w of watches) w.close();
    },
  };
}
