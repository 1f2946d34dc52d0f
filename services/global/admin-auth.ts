import { status, type Metadata, type ServerUnaryCall, type ServiceDefinition, type UntypedHandleCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { CredentialKind, type Identity } from '../../lib/directory/index.js';
import { OAuthError } from '../../lib/errors/index.js';
import { toStatus } from '../../lib/grpc/index.js';
import { peerIdentity } from '../../lib/grpc/mesh-tls.js';
import type { HostScope, HostTokens } from './host-token.js';

/** Decides whether a caller holds the full admin right (admin certificate or admin token). */
export interface AdminCheck {
  allows(metadata: Metadata, peer?: string): boolean;
}

/** AdminService methods a host token may call, each on its own application only. */
const HOST_METHODS: ReadonlySet<string> = new Set(['addCertificateCredential', 'removeCredential']);

interface AppRequest {
  tenantId?: unknown;
  clientId?: unknown;
  keyId?: unknown;
}

function bearerOf(metadata: Metadata): string | undefined {
  const values = metadata.get('authorization');
  if (values.length !== 1) return undefined;
  return /^Bearer (\S+)$/i.exec(String(values[0]))?.[1];
}

/** Reads one application from the directory (the store is asynchronous). */
type IdentityLookup = (tenantId: string, clientId: string) => Promise<Identity | undefined>;

/**
 * Why a host token may not make this call, or undefined when it may: only the two credential
 * methods, only on the application the token names, and RemoveCredential only for a certificate
 * credential (a secret on the same application is not the agent's to remove).
 */
async function hostRefusal(method: string, req: AppRequest, scope: HostScope, identity: IdentityLookup): Promise<string | undefined> {
  if (!HOST_METHODS.has(method)) return `a host token may not call ${method}`;
  if (req.tenantId !== scope.tenantId || req.clientId !== scope.clientId) return 'a host token may only change the credentials of the application it names';
  if (method === 'removeCredential') {
    const credential = (await identity(scope.tenantId, scope.clientId))?.credentials.find((c) => c.keyId === req.keyId);
    if (credential !== undefined && credential.kind !== CredentialKind.CREDENTIAL_KIND_CERTIFICATE) return 'a host token may only remove certificate credentials';
  }
  return undefined;
}

/**
 * Guards every AdminService method: the full admin right passes; a genuine host token passes for
 * its own application's certificate credentials and is refused with PERMISSION_DENIED and
 * `oauth-error: unauthorized_client` for anything else; any other caller gets UNAUTHENTICATED.
 */
export function guardAdmin(
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
  full: AdminCheck,
  hostTokens: HostTokens,
  identity: IdentityLookup,
): UntypedServiceImplementation {
  const unauthenticated = { code: status.UNAUTHENTICATED, details: 'missing or wrong admin token (authorization: Bearer <token>)' };
  const guarded: UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(implementation)) {
    const def = definition[method];
    if (def === undefined) throw new Error(`no method ${method} in the service definition`);
    if (def.requestStream || def.responseStream) throw new Error(`streaming method ${method} is not supported`);
    guarded[method] = ((call: ServerUnaryCall<AppRequest, unknown>, callback: (err: unknown, res?: unknown) => void) => {
      if (full.allows(call.metadata, peerIdentity(call))) {
        (handler as (c: typeof call, cb: typeof callback) => void)(call, callback);
        return;
      }
      const token = bearerOf(call.metadata);
      const scope = token === undefined ? undefined : hostTokens.verify(token);
      if (scope === undefined) {
        callback(unauthenticated);
        return;
      }
      hostRefusal(method, call.request ?? {}, scope, identity).then(
        (refusal) => {
          if (refusal !== undefined) callback(toStatus(new OAuthError('unauthorized_client', refusal)));
          else (handler as (c: typeof call, cb: typeof callback) => void)(call, callback);
        },
        (err: unknown) => callback(toStatus(err)),
      );
    }) as UntypedHandleCall;
  }
  return guarded;
}
