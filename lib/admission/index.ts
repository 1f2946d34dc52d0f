export { AdmissionControl } from './admission-control.js';
export type { AdmissionOptions, Release } from './admission-control.js';
export { withAdmission } from './with-admission.js';
