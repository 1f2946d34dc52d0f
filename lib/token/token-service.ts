import { Metadata, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { metrics, trace } from '@opentelemetry/api';
import type { Identity } from '../../gen/authmesh/directory/v1/directory.js';
import {
  TokenServiceService,
  type AcquireTokenRequest,
  AcquireTokenResponse,
  type GetJwksRequest,
  type GetJwksResponse,
} from '../../gen/authmesh/token/v1/token.js';
import { isOAuthError } from '../errors/index.js';
import { toStatus } from '../grpc/status-map.js';
import type { ServiceBinding } from '../grpc/serve.js';
import { reusingEncoder } from '../grpc/reusing-encoder.js';
import { callDeadline } from '../grpc/unary-methods.js';

/** Trailing metadata key: age in ms of the directory data a token was issued from. */
export const DATA_AGE_KEY = 'authmesh-data-age-ms';

export interface TokenCallOptions {
  /** Absolute deadline in ms since the epoch, from the caller's gRPC deadline. */
  deadline?: number;
}

/** A fault domain's token issuing, independent of the wire. */
export interface TokenBackendHandlers {
  acquireToken(req: AcquireTokenRequest, options: TokenCallOptions): Promise<{ response: AcquireTokenResponse; dataAgeMs: number; identity: Identity }>;
  getJwks(tenantId: string): Promise<string>;
  /** Called with every failure that is not an answer to the caller (for logging). */
  onServerError?(err: unknown, method: string): void;
}

/** Adapts {@link TokenBackendHandlers} to grpc-js: errors through the one status table. */
export function tokenServiceBinding(handlers: TokenBackendHandlers): ServiceBinding {
  const issued = metrics.getMeter('authmesh-token').createCounter('authmesh_tokens_issued', { description: 'Access tokens issued, by fault domain' });
  const fail = (method: string, callback: sendUnaryData<never>, err: unknown): void => {
    if (!isOAuthError(err) || err.code === 'server_error') handlers.onServerError?.(err, method);
    callback(toStatus(err));
  };
  return {
    name: 'authmesh.token.v1.TokenService',
    // Token answers, direct or relayed, are encoded through one kept writer.
    definition: { ...TokenServiceService, acquireToken: { ...TokenServiceService.acquireToken, responseSerialize: reusingEncoder(AcquireTokenResponse) } },
    implementation: {
      acquireToken(call: ServerUnaryCall<AcquireTokenRequest, AcquireTokenResponse>, callback: sendUnaryData<AcquireTokenResponse>) {
        const deadline = callDeadline(call);
        handlers.acquireToken(call.request, deadline === undefined ? {} : { deadline }).then(
          ({ response, dataAgeMs }) => {
            const trailer = new Metadata();
            trailer.set(DATA_AGE_KEY, String(Math.max(0, Math.round(dataAgeMs))));
            issued.add(1, { fault_domain: response.faultDomain });
            // On the server span of the grpc-js instrumentation, when tracing is on.
            trace.getActiveSpan()?.setAttributes({ 'authmesh.data_age_ms': Math.max(0, Math.round(dataAgeMs)), 'authmesh.fault_domain': response.faultDomain });
            callback(null, response, trailer);
          },
          (err: unknown) => fail('AcquireToken', callback, err),
        );
      },
      getJwks(call: ServerUnaryCall<GetJwksRequest, GetJwksResponse>, callback: sendUnaryData<GetJwksResponse>) {
        handlers.getJwks(call.request.tenantId).then(
          (jwksJson) => callback(null, { jwksJson }),
          (err: unknown) => fail('GetJwks', callback, err),
        );
      },
    },
  };
}
