import { isSpanContextValid, trace } from '@opentelemetry/api';
import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/** `trace_id` and `span_id` of the span in progress, so a log line can be found from its trace. */
function traceIds(): Record<string, string> {
  const ctx = trace.getActiveSpan()?.spanContext();
  return ctx !== undefined && isSpanContextValid(ctx) ? { trace_id: ctx.traceId, span_id: ctx.spanId } : {};
}

/**
 * Structured JSON logs on stdout. Keys that could carry credentials are redacted wherever they
 * appear, as a second line of defence: code never logs them on purpose.
 */
export function createLogger(name: string, level = 'info'): Logger {
  return pino({
    name,
    level,
    base: { service: name },
    mixin: traceIds,
    redact: {
      paths: [
        'client_assertion', 'clientAssertion', 'client_secret', 'clientSecret', 'secret',
        'access_token', 'accessToken', 'token', 'authorization', 'privateKey', 'private_key',
        '*.client_assertion', '*.clientAssertion', '*.client_secret', '*.clientSecret', '*.secret',
        '*.access_token', '*.accessToken', '*.token', '*.authorization', '*.privateKey',
      ],
      censor: '[redacted]',
    },
  });
}

/** A logger that drops everything, for tests. */
export const silentLogger = (): Logger => pino({ level: 'silent' });
