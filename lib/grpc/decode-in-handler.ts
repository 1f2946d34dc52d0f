import type { handleUnaryCall, MethodDefinition, ServerUnaryCall, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { invalidRequest } from '../errors/index.js';
import type { ServiceBinding } from './serve.js';
import { toStatus } from './status-map.js';

/**
 * A binding whose unary methods decode their request inside the handler instead of in grpc-js.
 *
 * grpc-js answers a request it cannot deserialize with INTERNAL "Error deserializing request" and
 * no `oauth-error` trailer, which a gateway must count as the domain's fault: undecodable bytes
 * from an anonymous caller would then open every domain's breaker. Here grpc-js hands the handler
 * the raw bytes and a message that does not decode is the caller's error, INVALID_ARGUMENT with
 * `oauth-error: invalid_request`, like any other bad request.
 */
export function decodeInHandler(binding: ServiceBinding): ServiceBinding {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = { ...binding.definition };
  const implementation: UntypedServiceImplementation = { ...binding.implementation };
  for (const [key, def] of Object.entries(binding.definition)) {
    const handler = binding.implementation[key];
    if (def.requestStream || def.responseStream || typeof handler !== 'function') continue;
    const decode = def.requestDeserialize;
    definition[key] = { ...def, requestDeserialize: (bytes: Buffer): unknown => bytes };
    const inner = handler as handleUnaryCall<unknown, unknown>;
    implementation[key] = ((call: ServerUnaryCall<unknown, unknown>, callback: Parameters<handleUnaryCall<unknown, unknown>>[1]) => {
      let request: unknown;
      try {
        request = decode(call.request as Buffer);
      } catch (err) {
        callback(toStatus(malformedRequest(err)));
        return;
      }
      call.request = request;
      inner(call, callback);
    }) as handleUnaryCall<unknown, unknown>;
  }
  return { name: binding.name, definition: definition as ServiceDefinition, implementation };
}

/** The caller's error for request bytes that are not the method's message. */
export const malformedRequest = (cause?: unknown): ReturnType<typeof invalidRequest> =>
  invalidRequest('request is not a valid protobuf message for this method', cause);
