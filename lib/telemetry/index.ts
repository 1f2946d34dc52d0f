export { TELEMETRY_OPTIONS } from './options.js';
export { certificateExpiryTelemetry, signingKeyExpiryTelemetry, certificateExpirySeconds, type WatchedCertificate, type SigningKeyAge } from './expiry-metrics.js';
export { buildVersion } from './build-info.js';
export { telemetrySettings, METRICS_PORT_OFFSET, type TelemetrySettings } from './settings.js';
export { startOtlpReceiver, type OtlpReceiver, type OtlpReceiverOptions, type ReceivedSpan } from './otlp-receiver.js';
export { buildTraces, isFailoverTrace, renderTrace, type TraceView } from './trace-tree.js';
