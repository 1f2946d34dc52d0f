export { FaultInjector, MAX_INJECTED_LATENCY_MS } from './fault-injector.js';
export type { Faults, FaultInjectorOptions } from './fault-injector.js';
export { withFaults, withFaultInjection, FAULTABLE_SERVICES } from './with-faults.js';
export { faultServiceBinding } from './fault-service.js';
export { FAULT_OPTIONS, checkFaultInjection } from './options.js';
