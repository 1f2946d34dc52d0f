export {
  DEFAULT_ISSUER,
  ASSERTION_TYPE,
  ASSERTION_ALGORITHMS,
  MAX_ASSERTION_LIFETIME_SECONDS,
  ASSERTION_CLOCK_SKEW_SECONDS,
  FAULT_DOMAIN_CLAIM,
  tokenIssuer,
  assertionAudience,
} from './constants.js';
export { TokenSigner, generateSigningKeyPem, writePrivateFile } from './token-signer.js';
export { RotatingSigningKey, startKeyRotation, nextKeyFile } from './rotating-key.js';
export { generateSecret, hashSecret, verifySecret } from './secrets.js';
export { parseCredentialPem } from './credential-pem.js';
export type { ParsedCredential } from './credential-pem.js';
export { verifyAssertion } from './verify-assertion.js';
export { VerifiedAssertionCache } from './assertion-cache.js';
export { AssertionPolicy } from './assertion-policy.js';
export type { AssertionPolicyOptions } from './assertion-policy.js';
export { ASSERTION_OPTIONS, assertionPolicyFromConfig } from './assertion-options.js';
export type { VerifiedAssertionCacheOptions } from './assertion-cache.js';
export type { AssertionContext } from './verify-assertion.js';
export { validateRequest, parseScope, isAbsoluteUri } from './validate-request.js';
export type { ValidRequest } from './validate-request.js';
export { issueToken } from './issue-token.js';
export type { IssueContext, IssuedToken } from './issue-token.js';
export { jwksFromKeys } from './jwks.js';
export { tokenServiceBinding, DATA_AGE_KEY } from './token-service.js';
export type { TokenBackendHandlers, TokenCallOptions } from './token-service.js';
export { buildAssertion, algorithmFor, keyIdOf } from './build-assertion.js';
export type { AssertionInput, BuiltAssertion } from './build-assertion.js';
