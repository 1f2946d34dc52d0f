import path from 'node:path';

/** What the telemetry bootstrap does in one process, decided from its argv and environment. */
export interface TelemetrySettings {
  /** `service.name` of every span and metric. */
  serviceName: string;
  /** Spans are recorded and sent over OTLP; false when OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. */
  tracing: boolean;
  /** host:port of the Prometheus endpoint; undefined when off. */
  metricsListen?: string;
}

/** Default `--listen` port of each entry point, used when the process is started without one. */
const DEFAULT_LISTEN_PORT: Readonly<Record<string, number>> = {
  gateway: 50050,
  global: 50051,
  regional: 50061,
  backup: 50071,
  // The identity agent serves a Unix socket; its metrics port follows a --listen it is given.
};

/**
 * Offset from a process's gRPC port to its default metrics port: gateway 50050 → 9450, global
 * 50051 → 9451, regional 50061 → 9461, westus gateway 50150 → 9550, backup 50071 → 9471.
 */
export const METRICS_PORT_OFFSET = 40_600;

type Env = Readonly<Record<string, string | undefined>>;

/** `--name value` or `--name=value` from argv, the last one winning as in lib/config. */
export function flagValue(argv: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (arg === `--${name}`) value = argv[i + 1];
    else if (arg.startsWith(`--${name}=`)) value = arg.slice(name.length + 3);
  }
  return value;
}

/** `gateway`, `global`, `regional`, … from the path of the entry script (dist/services/global/main.js). */
export function entryName(script: string | undefined): string | undefined {
  if (script === undefined) return undefined;
  const dir = path.basename(path.dirname(script));
  return dir === '' || dir === '.' ? undefined : dir;
}

function derivedMetricsListen(argv: readonly string[], env: Env, entry: string | undefined): string | undefined {
  const listen = flagValue(argv, 'listen') ?? env.AUTHMESH_LISTEN;
  let host = '127.0.0.1';
  let port = entry === undefined ? undefined : DEFAULT_LISTEN_PORT[entry];
  if (listen !== undefined) {
    const at = listen.lastIndexOf(':');
    host = listen.slice(0, at) || host;
    port = Number(listen.slice(at + 1));
  }
  if (port === undefined || !Number.isInteger(port)) return undefined;
  const metricsPort = port - METRICS_PORT_OFFSET;
  return metricsPort >= 1024 && metricsPort <= 65_535 ? `${host}:${metricsPort}` : undefined;
}

/**
 * Reads the settings: `service.name` from OTEL_SERVICE_NAME, else `authmesh-<entry>[-<region>]`;
 * the metrics address from `--metrics-listen` / AUTHMESH_METRICS_LISTEN (empty turns it off), else
 * the gRPC port minus {@link METRICS_PORT_OFFSET} (none when the gRPC port is 0).
 */
export function telemetrySettings(argv: readonly string[], env: Env): TelemetrySettings {
  const entry = entryName(argv[1]);
  const args = argv.slice(2);
  const region = flagValue(args, 'region') ?? env.AUTHMESH_REGION;
  const fallbackName = `authmesh-${entry ?? 'process'}${region !== undefined && region !== '' ? `-${region}` : ''}`;
  const serviceName = env.OTEL_SERVICE_NAME !== undefined && env.OTEL_SERVICE_NAME !== '' ? env.OTEL_SERVICE_NAME : fallbackName;
  const tracing = env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true' && env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() !== 'none';
  const explicit = flagValue(args, 'metrics-listen') ?? env.AUTHMESH_METRICS_LISTEN;
  const metricsListen = explicit !== undefined ? (explicit === '' ? undefined : explicit) : derivedMetricsListen(args, env, entry);
  return { serviceName, tracing, ...(metricsListen === undefined ? {} : { metricsListen }) };
}
