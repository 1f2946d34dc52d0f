import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { EventEmitter } from 'node:events';
import type { Http2Session } from 'node:http2';
import { DEFAULT_CONNECTION_AGE, grpcConnectionAgeOptions, type ConnectionAgeLimits } from './connection-age.js';

/**
 * grpc.health.v1 service name that answers SERVING for as long as the process runs (until
 * shutdown), whatever its readiness: for liveness probes, which must not restart a process that is
 * only waiting for data (a regional before its first snapshot, a backup past its staleness bound).
 */
export const LIVENESS_SERVICE = 'authmesh.liveness';

/** Largest request a service accepts; larger ones fail with RESOURCE_EXHAUSTED before decoding. */
export const MAX_REQUEST_BYTES = 64 * 1024;

export interface ServiceBinding {
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
  /** Fully qualified name for grpc.health.v1, e.g. `authmesh.token.v1.TokenService`. */
  name: string;
}

export interface RunningServer {
  server: Server;
  /** The port actually bound (useful with port 0). */
  port: number;
  address: string;
  health: HealthImplementation;
  /** Sets the health of the whole server ("") and of every service it serves. */
  setServing(status: ServingStatus): void;
  /** Stops taking calls, lets calls in flight finish for up to graceMs, then forces. */
  shutdown(graceMs?: number): Promise<void>;
}

export interface ServeOptions {
  /** `host:port`; port 0 picks a free one. */
  listen: string;
  services: readonly ServiceBinding[];
  credentials?: ServerCredentials;
  maxRequestBytes?: number;
  /** Extra grpc-js channel options. */
  options?: Record<string, number | string>;
  /** When a client connection gets GOAWAY (`grpc.max_connection_age_ms`); default {@link DEFAULT_CONNECTION_AGE}. */
  connectionAge?: ConnectionAgeLimits;
  /** More service names grpc.health.v1 reports on, for services answered in front of this server. */
  healthServices?: readonly string[];
  /** Health status to start with (default SERVING). */
  initialStatus?: ServingStatus;
  /**
   * HTTP/2 receive window of each connection and each stream, bytes (default
   * {@link RECEIVE_WINDOW_BYTES}). 65,535 (HTTP/2's default) makes a gateway's relay stream, many
   * calls on one stream, wait for WINDOW_UPDATEs once ~90 calls are in flight on it.
   */
  receiveWindowBytes?: number;
}

/** Default receive window of a served connection and stream: room for ~1,500 relayed calls in flight. */
export const RECEIVE_WINDOW_BYTES = 1 << 20;

/**
 * grpc-js has a flow-control window option for its channels (`grpc-node.flow_control_window`) but
 * none for its server, whose sessions keep HTTP/2's 65,535 bytes. Each new session of the
 * server's HTTP/2 listeners gets `bytes` for the connection and, as its initial window, for every
 * stream. The listeners are reached through grpc-js's `http2Servers` map; without it (another
 * grpc-js version) nothing changes.
 */
function widenReceiveWindows(server: Server, bytes: number): void {
  if (bytes <= 65_535) return;
  const listeners = (server as unknown as { http2Servers?: Map<EventEmitter, unknown> }).http2Servers;
  if (!(listeners instanceof Map)) return;
  for (const listener of listeners.keys()) {
    listener.on('session', (session: Http2Session) => widen(session, bytes));
  }
}

function widen(session: Http2Session, bytes: number): void {
  if (session.destroyed || session.closed) return;
  try {
    session.setLocalWindowSize(bytes);
    session.settings({ initialWindowSize: bytes });
  } catch {
    // A session torn down meanwhile keeps its defaults.
  }
}

/** Binds a grpc-js server with grpc.health.v1 and the given services. */
export async function serve(opts: ServeOptions): Promise<RunningServer> {
  const server = new Server({
    'grpc.max_receive_message_length': opts.maxRequestBytes ?? MAX_REQUEST_BYTES,
    // Channelz bookkeeping costs every call and nothing here reads it.
    'grpc.enable_channelz': 0,
    'grpc.keepalive_permit_without_calls': 1,
    ...grpcConnectionAgeOptions(opts.connectionAge ?? DEFAULT_CONNECTION_AGE),
    ...opts.options,
  });
  const initial = opts.initialStatus ?? 'SERVING';
  const statusMap: Record<string, ServingStatus> = { '': initial };
  for (const s of opts.services) statusMap[s.name] = initial;
  for (const name of opts.healthServices ?? []) statusMap[name] = initial;
  const health = new HealthImplementation({ ...statusMap, [LIVENESS_SERVICE]: 'SERVING' });
  health.addToServer(server);
  for (const s of opts.services) server.addService(s.definition, s.implementation);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(opts.listen, opts.credentials ?? ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
  widenReceiveWindows(server, opts.receiveWindowBytes ?? RECEIVE_WINDOW_BYTES);
  const host = opts.listen.slice(0, opts.listen.lastIndexOf(':'));
  const setServing = (status: ServingStatus): void => {
    for (const name of Object.keys(statusMap)) health.setStatus(name, status);
  };
  const shutdown = (graceMs = 5000): Promise<void> =>
    new Promise((resolve) => {
      setServing('NOT_SERVING');
      health.setStatus(LIVENESS_SERVICE, 'NOT_SERVING');
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, graceMs);
      force.unref();
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  return { server, port, address: `${host}:${port}`, health, setServing, shutdown };
}

/** Runs `stop` once on the first SIGTERM or SIGINT, then exits. */
export function onShutdownSignal(stop: () => Promise<void>, log: (msg: string) => void = () => undefined): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log(`received ${signal}, shutting down`);
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', handler);
  process.once('SIGINT', handler);
}
