import type { handleUnaryCall, sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { ServiceBinding } from './serve.js';

type UnaryHandler = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void;

/** The caller's deadline in ms since the epoch, undefined when it set none. */
export function callDeadline(call: Pick<ServerUnaryCall<unknown, unknown>, 'getDeadline'>): number | undefined {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * A binding whose every unary method is replaced by `wrap(inner)`; streaming methods are left as
 * they are. For cross-cutting guards (admission control, fault injection) around a service.
 */
export function wrapUnaryMethods(binding: ServiceBinding, wrap: (inner: UnaryHandler) => UnaryHandler): ServiceBinding {
  const implementation: UntypedServiceImplementation = { ...binding.implementation };
  for (const [method, def] of Object.entries(binding.definition)) {
    if (def.requestStream || def.responseStream) continue;
    const inner = binding.implementation[method] as handleUnaryCall<unknown, unknown> | undefined;
    if (inner === undefined) continue;
    implementation[method] = wrap(inner);
  }
  return { ...binding, implementation };
}
