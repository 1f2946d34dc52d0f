export {
  OAuthError,
  invalidRequest,
  invalidClient,
  unauthorizedClient,
  invalidScope,
  unavailable,
  overloaded,
  isOAuthError,
} from './oauth-error.js';
export type { OAuthErrorCode, OAuthErrorOptions, UnavailableReason } from './oauth-error.js';
