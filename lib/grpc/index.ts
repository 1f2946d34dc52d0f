export { toStatus, readErrorTrailers, OAUTH_ERROR_KEY, REASON_KEY, CALLER_ERROR_CODES, RETRYABLE_CODES } from './status-map.js';
export { serve, onShutdownSignal, MAX_REQUEST_BYTES, LIVENESS_SERVICE } from './serve.js';
export type { ServiceBinding, RunningServer, ServeOptions } from './serve.js';
export { unary, bearer } from './unary.js';
export type { UnaryOptions } from './unary.js';
export { BearerCheck, requireBearer } from './bearer-check.js';
export { loadMeshTls, meshServerCredentials, meshChannelCredentials, meshChannelOptions, peerIdentity, meshCallerCheck } from './mesh-tls.js';
export type { MeshTls, CallerCheck } from './mesh-tls.js';
