export { FaultInjector } from './fault-injector.js';
export type { Faults, FaultInjectorOptions } from './fault-injector.js';
export { withFaultInjection } from './with-faults.js';
export { faultServiceBinding } from './fault-service.js';
export { FAULT_OPTIONS, checkFaultInjection } from './options.js';
