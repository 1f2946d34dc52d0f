import { credentials, Metadata, status, type CallCredentials } from '@grpc/grpc-js';
import type { TokenCredential } from './access-token.js';
import { AuthmeshClientError } from './errors.js';

/** gRPC status a call fails with when its token could not be had, by the SDK's error code. */
const STATUS_BY_CODE: Readonly<Record<string, status>> = {
  ERR_TOKEN_REFUSED: status.UNAUTHENTICATED,
  ERR_INVALID_CREDENTIAL: status.UNAUTHENTICATED,
  ERR_INVALID_SCOPE: status.UNAUTHENTICATED,
  ERR_ABORTED: status.CANCELLED,
  ERR_MESH_UNAVAILABLE: status.UNAVAILABLE,
};

/**
 * grpc-js call credentials that put `authorization: Bearer <token>` on every call, the token
 * coming from `credential` for `scope` (its cache, or the mesh when due). Give them to a client
 * per call (`{ credentials }` in the call options) or compose them with TLS channel credentials
 * (`credentials.combineChannelCredentials`).
 *
 * A call whose token cannot be had fails before it is sent: UNAUTHENTICATED when the mesh
 * refused the credential, UNAVAILABLE when no token is cached and the mesh cannot be reached;
 * the status details carry the SDK's message.
 */
export function grpcCallCredentials(credential: TokenCredential, scope: string): CallCredentials {
  if (scope === '') throw new AuthmeshClientError('ERR_INVALID_SCOPE', 'a scope (<resource>/.default) is required');
  return credentials.createFromMetadataGenerator((_params, callback) => {
    credential.getToken(scope).then(
      (token) => {
        const metadata = new Metadata();
        metadata.set('authorization', `Bearer ${token.token}`);
        callback(null, metadata);
      },
      (err: unknown) => {
        const code = err instanceof AuthmeshClientError ? STATUS_BY_CODE[err.code] : undefined;
        // grpc-js ends the call with `code` when it is a number (UNKNOWN otherwise).
        callback(Object.assign(new Error((err as Error).message ?? String(err), { cause: err }), { code: code ?? status.UNAVAILABLE }));
      },
    );
  });
}
