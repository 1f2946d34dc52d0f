/** How long a server keeps one client connection. */
export interface ConnectionAgeLimits {
  /**
   * Age after which the server sends GOAWAY, so the client opens a new connection (and a new
   * replica behind a Service gets its share); ±10 % jitter, as grpc-js applies. 0 = never.
   */
  maxAgeMs: number;
  /** Time the calls still open get after the GOAWAY before the connection is closed. 0 = no limit. */
  graceMs: number;
}

/** Five minutes, then 30 s for the calls in flight. */
export const DEFAULT_CONNECTION_AGE: Readonly<ConnectionAgeLimits> = Object.freeze({ maxAgeMs: 5 * 60_000, graceMs: 30_000 });

/** Longest delay a Node.js timer takes (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

const timerRange = (value: unknown): string | undefined =>
  typeof value === 'number' && value >= 0 && value <= MAX_TIMER_MS ? undefined : `must be between 0 and ${MAX_TIMER_MS} ms, got ${String(value)}`;

/** Options of every process that serves gRPC (each also read from AUTHMESH_<NAME>). */
export const CONNECTION_AGE_OPTIONS = {
  'max-connection-age': {
    type: 'duration',
    describe: 'a client connection older than this (±10 %) gets GOAWAY, so clients reconnect and spread over new replicas (0 = never)',
    default: '5m',
    check: timerRange,
  },
  'max-connection-age-grace': {
    type: 'duration',
    describe: 'time the calls still open on a connection get after its GOAWAY before it is closed (0 = no limit)',
    default: '30s',
    check: timerRange,
  },
} as const;

/** The limits from the parsed values of {@link CONNECTION_AGE_OPTIONS}. */
export function connectionAgeOf(config: { readonly 'max-connection-age': number; readonly 'max-connection-age-grace': number }): ConnectionAgeLimits {
  return { maxAgeMs: config['max-connection-age'], graceMs: config['max-connection-age-grace'] };
}

/** The grpc-js server options for `limits` (grpc-js adds the jitter itself). */
export function grpcConnectionAgeOptions(limits: ConnectionAgeLimits): Record<string, number> {
  if (limits.maxAgeMs <= 0) return {};
  return { 'grpc.max_connection_age_ms': limits.maxAgeMs, ...(limits.graceMs > 0 ? { 'grpc.max_connection_age_grace_ms': limits.graceMs } : {}) };
}

/** A server connection that can be sent its graceful GOAWAY and, later, closed outright. */
export interface AgedConnection {
  /** GOAWAY that refuses nothing yet, a PING, then GOAWAY naming the last stream taken; the calls open finish. */
  shutdown(): void;
  destroy(): void;
}

/**
 * What grpc-js does with `grpc.max_connection_age_ms`: after the jittered age (±10 %) the
 * connection gets its graceful GOAWAY, and after the grace it is closed with whatever is still
 * open. Returns the clean-up for when the connection ends first.
 */
export function limitConnectionAge(conn: AgedConnection, limits: ConnectionAgeLimits, random: () => number = Math.random): () => void {
  if (limits.maxAgeMs <= 0) return () => undefined;
  const ageMs = Math.min(MAX_TIMER_MS, limits.maxAgeMs * (1 + 0.1 * (random() * 2 - 1)));
  let grace: NodeJS.Timeout | undefined;
  const age = setTimeout(() => {
    conn.shutdown();
    if (limits.graceMs > 0) {
      grace = setTimeout(() => conn.destroy(), limits.graceMs);
      grace.unref();
    }
  }, ageMs);
  age.unref();
  return () => {
    clearTimeout(age);
    clearTimeout(grace);
  };
}
