import { createServer } from 'node:http';
import { metrics } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { TrailerKeepingGrpcInstrumentation } from './grpc-instrumentation.js';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import { buildVersion } from './build-info.js';
import { processResource } from './resource.js';
import type { TelemetrySettings } from './settings.js';

type Env = Readonly<Record<string, string | undefined>>;

/** One JSON line shaped like the service's pino lines, written before the service's logger exists. */
function say(level: number, serviceName: string, fields: Record<string, unknown>, msg: string): void {
  process.stdout.write(`${JSON.stringify({ level, time: Date.now(), service: serviceName, ...fields, msg })}\n`);
}

function envNumber(env: Env, name: string, fallback: number): number {
  const n = Number(env[name]);
  return env[name] !== undefined && Number.isFinite(n) && n > 0 ? n : fallback;
}

/** Serves `GET /metrics` in Prometheus text format; a busy port is reported once and ignored. */
function serveMetrics(exporter: PrometheusExporter, listen: string, serviceName: string): void {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at);
  const port = Number(listen.slice(at + 1));
  const server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?') === true)) exporter.getMetricsRequestHandler(req, res);
    else res.writeHead(404).end('try /metrics\n');
  });
  server.on('error', (err) => say(40, serviceName, { metricsListen: listen, error: err.message }, 'metrics endpoint not started'));
  server.listen(port, host, () => {
    const addr = server.address();
    const bound = typeof addr === 'object' && addr !== null ? `${host}:${addr.port}` : listen;
    say(30, serviceName, { metrics: `http://${bound}/metrics` }, 'metrics serving');
  });
  server.unref();
}

/**
 * Starts tracing (NodeSDK with the grpc-js instrumentation, spans batched to OTLP/HTTP at
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT + `/v1/traces`, else
 * http://localhost:4318/v1/traces) and the Prometheus endpoint, as the settings say. With the
 * endpoint on, Node.js runtime metrics (@opentelemetry/instrumentation-runtime-node: event-loop
 * delay, heap, GC) and `authmesh_build_info{version}` are exported too.
 *
 * The resource is the service's `service.name` with what the env, host and process detectors
 * find: OTEL_RESOURCE_ATTRIBUTES (a pod's name and namespace from the downward API, say) and
 * OTEL_SERVICE_NAME are the SDK's own contract and win over the service's default name.
 *
 * Export failures stay quiet: the OTel diagnostic logger is off unless OTEL_LOG_LEVEL asks for it,
 * and the span queue is bounded (OTEL_BSP_MAX_QUEUE_SIZE, default 2048), so a missing collector
 * costs dropped spans, not memory or log noise.
 */
export function startTelemetry(settings: TelemetrySettings, env: Env): void {
  const resource = processResource(settings.serviceName, env);
  const reader = settings.metricsListen === undefined ? undefined : new PrometheusExporter({ preventServerStart: true });
  if (settings.tracing) {
    const processor = new BatchSpanProcessor(new OTLPTraceExporter(), {
      maxQueueSize: envNumber(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048),
      maxExportBatchSize: envNumber(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512),
      scheduledDelayMillis: envNumber(env, 'OTEL_BSP_SCHEDULE_DELAY', 1000),
      exportTimeoutMillis: envNumber(env, 'OTEL_BSP_EXPORT_TIMEOUT', 5000),
    });
    const sdk = new NodeSDK({
      resource,
      autoDetectResources: false,
      instrumentations: [new TrailerKeepingGrpcInstrumentation(), ...(reader === undefined ? [] : [runtimeInstrumentation()])],
      spanProcessors: [processor],
      metricReaders: reader === undefined ? [] : [reader],
      logRecordProcessors: [],
    });
    sdk.start();
  } else if (reader !== undefined) {
    const provider = new MeterProvider({ resource, readers: [reader] });
    metrics.setGlobalMeterProvider(provider);
    runtimeInstrumentation().setMeterProvider(provider);
  }
  if (reader !== undefined) {
    buildInfo();
    serveMetrics(reader, settings.metricsListen!, settings.serviceName);
  }
}

/** Node.js runtime metrics: event-loop delay and utilization, heap spaces, GC pauses. */
function runtimeInstrumentation(): RuntimeNodeInstrumentation {
  return new RuntimeNodeInstrumentation();
}

/** `authmesh_build_info{version} 1`, so a dashboard or alert can tell what each process runs. */
function buildInfo(): void {
  const labels = Object.freeze({ version: buildVersion() });
  metrics
    .getMeter('authmesh')
    .createObservableGauge('authmesh_build_info', { description: 'Always 1; the labels say which build of authmesh this process runs' })
    .addCallback((r) => r.observe(1, labels));
}
