import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { callDeadline, wrapUnaryMethods } from '../grpc/unary-methods.js';
import { overloaded } from '../errors/index.js';
import { toStatus } from '../grpc/status-map.js';
import type { ServiceBinding } from '../grpc/serve.js';
import type { AdmissionControl } from './admission-control.js';

/**
 * Puts every unary method of a binding behind the admission control: a refused call is answered
 * RESOURCE_EXHAUSTED (oauth-error temporarily_unavailable, authmesh-reason overloaded) at once.
 * Streaming methods are left as they are.
 */
export function withAdmission(binding: ServiceBinding, control: AdmissionControl): ServiceBinding {
  return wrapUnaryMethods(binding, (inner) => (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    void control.enter(callDeadline(call)).then((release) => {
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
  });
}
