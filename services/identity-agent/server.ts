import { Metadata, status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { IdentityAgentServiceService, type GetTokenRequest, type GetTokenResponse } from '../../gen/authmesh/agent/v1/agent.js';
import { AuthmeshClientError, TokenRefusedError } from '../../client/index.js';
import { invalidScope } from '../../lib/errors/index.js';
import { callDeadline, OAUTH_ERROR_KEY, toStatus, type ServiceBinding } from '../../lib/grpc/index.js';
import type { HostIdentity } from './host-identity.js';

/** IdentityAgentService: a token for the host identity, no credential asked of the caller. */
export function identityAgentService(identity: HostIdentity, onScope: (scope: string) => void, onError: (err: unknown) => void): ServiceBinding {
  const getToken = (call: ServerUnaryCall<GetTokenRequest, GetTokenResponse>, callback: sendUnaryData<GetTokenResponse>): void => {
    const scope = call.request.scope;
    if (!scope.endsWith('/.default')) return callback(toStatus(invalidScope('scope must be <resource>/.default')));
    onScope(scope);
    identity.getToken(scope, { deadline: callDeadline(call) ?? Date.now() + 10_000 }).then(
      (t) => callback(null, { accessToken: t.token, expiresOnMs: t.expiresOn, refreshAfterMs: t.refreshAfter, faultDomain: t.faultDomain, tenantId: identity.tenantId, clientId: identity.clientId }),
      (err: unknown) => {
        onError(err);
        const md = new Metadata();
        if (err instanceof TokenRefusedError) {
          md.set(OAUTH_ERROR_KEY, err.oauthError);
          const code = (status as unknown as Record<string, status>)[err.status] ?? status.PERMISSION_DENIED;
          return callback({ code, details: err.message, metadata: md });
        }
        md.set(OAUTH_ERROR_KEY, 'temporarily_unavailable');
        callback({ code: status.UNAVAILABLE, details: err instanceof AuthmeshClientError ? err.message : 'no token available', metadata: md });
      },
    );
  };
  return { definition: IdentityAgentServiceService, implementation: { getToken }, name: 'authmesh.agent.v1.IdentityAgentService' };
}
