import type { handleUnaryCall, sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { overloaded } from '../errors/index.js';
import { toStatus } from '../grpc/status-map.js';
import type { ServiceBinding } from '../grpc/serve.js';
import type { AdmissionControl } from './admission-control.js';

function deadlineOf(call: ServerUnaryCall<unknown, unknown>): number | undefined {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Puts every unary method of a binding behind the admission control: a refused call is answered
 * RESOURCE_EXHAUSTED (oauth-error temporarily_unavailable, authmesh-reason overloaded) at once.
 * Streaming methods are left as they are.
 */
export function withAdmission(binding: ServiceBinding, control: AdmissionControl): ServiceBinding {
  const implementation: UntypedServiceImplementation = { ...binding.implementation };
  for (const [method, def] of Object.entries(binding.definition)) {
    if (def.requestStream || def.responseStream) continue;
    const inner = binding.implementation[method] as handleUnaryCall<unknown, unknown> | undefined;
    if (inner === undefined) continue;
    implementation[method] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      void control.enter(deadlineOf(call)).then((release) => {
        if (release === undefined) {
          callback(toStatus(overloaded('server overloaded; try another fault domain')));
          return;
        }
        // Released on the answer, or when the caller goes away first.
        call.once('cancelled', release);
        inner(call, (err, value, trailer, flags) => {
          release();
          callback(err, value, trailer, flags);
        });
      });
    };
  }
  return { ...binding, implementation };
}
