import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { wrapUnaryMethods } from '../grpc/unary-methods.js';
import type { ServiceBinding } from '../grpc/serve.js';
import { faultServiceBinding } from './fault-service.js';
import type { FaultInjector } from './fault-injector.js';

/** Services whose unary calls are slowed or failed by injected faults. */
export const FAULTABLE_SERVICES: ReadonlySet<string> = new Set(['authmesh.token.v1.TokenService', 'authmesh.directory.v1.DirectoryService']);

/** Wraps every unary method of a binding so the injector runs before the real handler. */
export function withFaults(binding: ServiceBinding, injector: FaultInjector): ServiceBinding {
  return wrapUnaryMethods(binding, (inner) => (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    injector.apply().then(
      (failure) => (failure === undefined ? inner(call, callback) : callback(failure)),
      () => inner(call, callback),
    );
  });
}

/**
 * The bindings a process serves: unchanged without an injector; with one, TokenService and
 * DirectoryService wrapped and FaultInjectionService added.
 */
export function withFaultInjection(injector: FaultInjector | undefined, bindings: readonly ServiceBinding[]): ServiceBinding[] {
  if (injector === undefined) return [...bindings];
  return [...bindings.map((b) => (FAULTABLE_SERVICES.has(b.name) ? withFaults(b, injector) : b)), faultServiceBinding(injector)];
}
