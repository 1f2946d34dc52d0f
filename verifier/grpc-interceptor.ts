import { Metadata, ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';
import { MALFORMED_AUTHORIZATION, MISSING_TOKEN, readBearer, refusalOf, type BearerRefusal } from './bearer-refusal.js';
import type { TokenVerifier, VerifiedToken } from './token-verifier.js';

export interface VerifierInterceptorOptions {
  /**
   * Roles a call must hold: one list for every method, or a function of the method path
   * (`/package.Service/Method`). A token without them is answered PERMISSION_DENIED.
   */
  requiredRoles?: readonly string[] | ((path: string) => readonly string[]);
  /** Method paths served without a token, e.g. `/grpc.health.v1.Health/Check`. */
  publicMethods?: readonly string[];
}

/** The verified token of each call, keyed by the metadata object its handler receives. */
const verifiedByMetadata = new WeakMap<Metadata, VerifiedToken>();

/**
 * The token the interceptor verified for a call, from the handler's `call.metadata`; undefined
 * for a public method. Read this rather than any metadata the caller could have set.
 */
export const verifiedTokenOf = (call: { metadata: Metadata }): VerifiedToken | undefined => verifiedByMetadata.get(call.metadata);

/**
 * A grpc-js server interceptor (`new Server({ interceptors: [...] })`) that checks the bearer
 * token in `authorization` before the handler sees the call. No token, a malformed header or a
 * bad token → UNAUTHENTICATED; a missing role → PERMISSION_DENIED; a key set that cannot be
 * fetched → UNAVAILABLE. The RFC 6750 error code travels in the trailing metadata `oauth-error`
 * (none when there was no token), and the handler never runs.
 */
export function verifierInterceptor(verifier: TokenVerifier, options: VerifierInterceptorOptions = {}): ServerInterceptor {
  const publicMethods = new Set(options.publicMethods ?? []);
  const rolesFor = typeof options.requiredRoles === 'function' ? options.requiredRoles : () => (options.requiredRoles as readonly string[] | undefined) ?? [];
  return (descriptor, call) => {
    if (publicMethods.has(descriptor.path)) return new ServerInterceptingCall(call);
    const intercepting: ServerInterceptingCall = new ServerInterceptingCall(call, {
      start: (next) => next({
        onReceiveMetadata: (metadata, proceed) => {
          const refuse = (refusal: BearerRefusal): void => {
            const trailers = new Metadata();
            if (refusal.error !== undefined) trailers.set('oauth-error', refusal.error);
            intercepting.sendStatus({ code: refusal.grpcStatus, details: refusal.description, metadata: trailers });
          };
          const bearer = readBearer(metadata.get('authorization').map(String));
          if (bearer.kind === 'missing') return refuse(MISSING_TOKEN);
          if (bearer.kind === 'malformed') return refuse(MALFORMED_AUTHORIZATION);
          verifier.verify(bearer.token, { requiredRoles: rolesFor(descriptor.path) }).then(
            (verified) => {
              verifiedByMetadata.set(metadata, verified);
              proceed(metadata);
            },
            (err: unknown) => refuse(refusalOf(err) ?? { description: 'the token could not be checked', httpStatus: 503, grpcStatus: status.INTERNAL }),
          );
        },
      }),
    });
    return intercepting;
  };
}
