/** gRPC server reflection for the inner grpc-js server behind the public front. */
import path from 'node:path';
import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import type { ServiceBinding } from '../../lib/grpc/index.js';
import { TOKEN_SERVICE_NAME } from '../pass-through.js';

/** Where the .proto files are, from dist/gateway/front at run time. */
export const DEFAULT_PROTO_ROOT = path.resolve(__dirname, '..', '..', '..', 'proto');

/**
 * gRPC server reflection (v1 and v1alpha) for TokenService and GatewayAdminService. The reflection
 * package registers itself with `addService`; it is captured here as bindings so lib/grpc's
 * `serve()` adds them like any other service.
 */
export function reflectionBindings(protoRoot = DEFAULT_PROTO_ROOT): ServiceBinding[] {
  const pkg = loadSync(['authmesh/token/v1/token.proto', 'authmesh/gateway/v1/gateway.proto'], {
    includeDirs: [protoRoot],
    keepCase: true,
  });
  const reflection = new ReflectionService(pkg, { services: [TOKEN_SERVICE_NAME, 'authmesh.gateway.v1.GatewayAdminService'] });
  const bindings: ServiceBinding[] = [];
  const collector = {
    addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation) {
      const first = Object.values(definition)[0]!;
      const name = first.path.split('/')[1]!;
      bindings.push({ name, definition, implementation });
    },
  };
  reflection.addToServer(collector as unknown as Parameters<ReflectionService['addToServer']>[0]);
  return bindings;
}
