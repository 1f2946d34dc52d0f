import { timingSafeEqual } from 'node:crypto';
import {
  status,
  type Metadata,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { peerIdentity, type CallerCheck } from './mesh-tls.js';

/** Accepts calls whose `authorization` metadata is `Bearer <one of the tokens>`. */
export class BearerCheck {
  private readonly accepted: readonly Buffer[];

  constructor(tokens: readonly string[]) {
    this.accepted = tokens.map((t) => Buffer.from(t, 'utf8'));
  }

  allows(metadata: Metadata): boolean {
    const values = metadata.get('authorization');
    if (values.length !== 1) return false;
    const m = /^Bearer (\S+)$/i.exec(String(values[0]));
    if (m === null) return false;
    const given = Buffer.from(m[1]!, 'utf8');
    let ok = false;
    // Compare with every accepted token, in constant time, so timing does not tell which matched.
    for (const token of this.accepted) {
      if (token.length === given.length && timingSafeEqual(token, given)) ok = true;
    }
    return ok;
  }
}

/**
 * Wraps every handler of a service so a call without an accepted bearer token fails with
 * UNAUTHENTICATED before the handler runs. Unary and server-streaming methods are supported.
 */
export function requireBearer(
  definition: ServiceDefinition,
  implementation: UntypedServiceImplementation,
  check: BearerCheck | CallerCheck,
  credentialName: string,
): UntypedServiceImplementation {
  const refusal = { code: status.UNAUTHENTICATED, details: `missing or wrong ${credentialName} (authorization: Bearer <token>)` };
  const guarded: UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(implementation)) {
    const def = definition[method];
    if (def === undefined) throw new Error(`no method ${method} in the service definition`);
    if (def.requestStream) throw new Error(`client-streaming method ${method} is not supported`);
    if (def.responseStream) {
      guarded[method] = ((call: ServerWritableStream<unknown, unknown>) => {
        if (!check.allows(call.metadata, peerIdentity(call))) call.emit('error', refusal);
        else (handler as (c: typeof call) => void)(call);
      }) as UntypedHandleCall;
    } else {
      guarded[method] = ((call: { metadata: Metadata; getAuthContext?: ServerWritableStream<unknown, unknown>['getAuthContext'] }, callback: (err: unknown) => void) => {
        if (!check.allows(call.metadata, peerIdentity(call))) callback(refusal);
        else (handler as (c: typeof call, cb: typeof callback) => void)(call, callback);
      }) as UntypedHandleCall;
    }
  }
  return guarded;
}
