import { status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import {
  FaultInjectionServiceService,
  type ClearFaultsRequest,
  type ClearFaultsResponse,
  type FaultInjectionServiceServer,
  type SetFaultsRequest,
  type SetFaultsResponse,
} from '../../gen/authmesh/fault/v1/fault.js';
import type { ServiceBinding } from '../grpc/serve.js';
import type { FaultInjector } from './fault-injector.js';

/** authmesh.fault.v1.FaultInjectionService over an injector; registered only when enabled. */
export function faultServiceBinding(injector: FaultInjector): ServiceBinding {
  const implementation: FaultInjectionServiceServer = {
    setFaults(call: ServerUnaryCall<SetFaultsRequest, SetFaultsResponse>, callback: sendUnaryData<SetFaultsResponse>) {
      const req = call.request;
      try {
        const f = injector.set({ latencyMs: req.latencyMs, errorRate: req.errorRate, errorCode: req.errorCode === 0 ? status.UNAVAILABLE : req.errorCode });
        callback(null, { latencyMs: f.latencyMs, errorRate: f.errorRate, errorCode: f.errorCode });
      } catch (err) {
        callback({ code: status.INVALID_ARGUMENT, details: err instanceof Error ? err.message : 'invalid faults' });
      }
    },
    clearFaults(_call: ServerUnaryCall<ClearFaultsRequest, ClearFaultsResponse>, callback: sendUnaryData<ClearFaultsResponse>) {
      injector.clear();
      callback(null, {});
    },
  };
  return { name: 'authmesh.fault.v1.FaultInjectionService', definition: FaultInjectionServiceService, implementation };
}
