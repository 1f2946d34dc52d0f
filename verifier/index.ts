export { TokenVerifier } from './token-verifier.js';
export type { TokenVerifierOptions, VerifyOptions, VerifiedToken } from './token-verifier.js';
export { KeySetCache } from './key-set-cache.js';
export type { KeySetCacheOptions, KeySetEvent } from './key-set-cache.js';
export { gatewayJwksSource, localJwksSource } from './jwks-source.js';
export type { JwksSource, GatewayJwksSourceOptions } from './jwks-source.js';
export { VerifierError, TokenClaimError, RoleMissingError, isTokenRefusal } from './errors.js';
export type { VerifierErrorCode } from './errors.js';
export type { GatewayTlsOptions } from '../client/gateway-tls.js';
