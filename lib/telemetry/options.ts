import { hostPort, type OptionSpecs } from '../config/index.js';

/**
 * Flags every service accepts for its telemetry. The values are read by `register.ts` before the
 * service starts; a service's own config only validates them and lists them in `--help`.
 */
export const TELEMETRY_OPTIONS = {
  'metrics-listen': {
    type: 'string',
    describe: 'host:port of the Prometheus /metrics endpoint; empty turns it off (default: gRPC port - 40600, e.g. 50050 → 9450)',
    default: '',
    check: (v: unknown) => (String(v) === '' ? undefined : hostPort(v)),
  },
} as const satisfies OptionSpecs;
