import { ConfigError } from '../config/index.js';

/** The option that turns fault injection on; spread into a service's option table. */
export const FAULT_OPTIONS = {
  'fault-injection': {
    type: 'bool',
    describe: 'serve authmesh.fault.v1.FaultInjectionService and apply its faults (chaos tests only; refused when NODE_ENV=production)',
    default: 'false',
  },
} as const;

/**
 * Refuses fault injection in a production start (NODE_ENV=production), so a stray flag cannot
 * make a production process slow or failing on command.
 */
export function checkFaultInjection(enabled: boolean, env: Readonly<Record<string, string | undefined>>): void {
  if (enabled && env.NODE_ENV === 'production') {
    throw new ConfigError(['--fault-injection (AUTHMESH_FAULT_INJECTION) is not allowed when NODE_ENV=production']);
  }
}
