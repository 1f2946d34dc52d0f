import type { TokenCredential } from './access-token.js';
import { AuthmeshClientError } from './errors.js';

/**
 * The abort signal Azure SDKs pass (`AbortSignalLike` of `@azure/abort-controller`); a DOM
 * `AbortSignal` is one too.
 */
export interface AzureAbortSignalLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: (this: AzureAbortSignalLike, ev: unknown) => unknown, options?: unknown): void;
  removeEventListener(type: 'abort', listener: (this: AzureAbortSignalLike, ev: unknown) => unknown, options?: unknown): void;
}

/** The options `@azure/core-auth`'s `TokenCredential.getToken` receives that this adapter reads. */
export interface AzureGetTokenOptions {
  abortSignal?: AzureAbortSignalLike;
  requestOptions?: { timeout?: number };
}

/** `@azure/core-auth`'s `AccessToken`: times in ms since the epoch. */
export interface AzureAccessToken {
  token: string;
  expiresOnTimestamp: number;
  refreshAfterTimestamp?: number;
  tokenType?: 'Bearer';
}

/**
 * The shape of `@azure/core-auth`'s `TokenCredential`, so an authmesh credential can be handed to
 * an Azure SDK client or pipeline (`bearerTokenAuthenticationPolicy`) without this package
 * depending on `@azure/core-auth`.
 */
export interface AzureTokenCredential {
  getToken(scopes: string | string[], options?: AzureGetTokenOptions): Promise<AzureAccessToken>;
}

/**
 * Adapts any authmesh credential to `@azure/core-auth`'s `TokenCredential`. The scopes must name
 * one scope (`<resource>/.default`); `abortSignal` stops the wait and `requestOptions.timeout`
 * bounds a request the call has to make.
 */
export function azureTokenCredential(credential: TokenCredential): AzureTokenCredential {
  return {
    async getToken(scopes, options = {}) {
      const list = typeof scopes === 'string' ? [scopes] : scopes;
      if (list.length !== 1 || list[0] === '') {
        throw new AuthmeshClientError('ERR_INVALID_SCOPE', `exactly one scope (<resource>/.default) is required, got ${list.length}`);
      }
      const controller = new AbortController();
      const abort = (): void => controller.abort();
      options.abortSignal?.addEventListener('abort', abort);
      if (options.abortSignal?.aborted === true) controller.abort();
      try {
        const timeout = options.requestOptions?.timeout;
        const token = await credential.getToken(list[0]!, {
          signal: controller.signal,
          ...(timeout === undefined || timeout <= 0 ? {} : { deadline: Date.now() + timeout }),
        });
        return { token: token.token, expiresOnTimestamp: token.expiresOn, refreshAfterTimestamp: token.refreshAfter, tokenType: 'Bearer' };
      } finally {
        options.abortSignal?.removeEventListener('abort', abort);
      }
    },
  };
}
