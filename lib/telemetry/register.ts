/**
 * Telemetry bootstrap, loaded before the service with `node --require ./dist/lib/telemetry/register.js`
 * so the grpc-js instrumentation patches grpc-js before any service code loads it.
 *
 * - OTEL_SDK_DISABLED=true (or OTEL_TRACES_EXPORTER=none): no tracing, nothing of the SDK is loaded.
 * - `--metrics-listen` / AUTHMESH_METRICS_LISTEN: the Prometheus endpoint (see settings.ts).
 */
import type * as StartTelemetry from './start-telemetry.js';
import { telemetrySettings } from './settings.js';

// The one place outside lib/config and main.ts that reads the environment: this runs before the
// service, and the OTEL_* variables are the OpenTelemetry SDK's own contract.
// eslint-disable-next-line no-restricted-properties
const env = process.env;
const settings = telemetrySettings(process.argv, env);
if (settings.tracing || settings.metricsListen !== undefined) {
  // Loaded only when needed: the SDK takes a noticeable time to load, and a process with
  // telemetry off should not pay for it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startTelemetry } = require('./start-telemetry.js') as typeof StartTelemetry;
  startTelemetry(settings, env);
}
