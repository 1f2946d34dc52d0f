import path from 'node:path';
import { Metadata, status, type sendUnaryData, type ServerUnaryCall, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import type { Logger } from '../lib/log/index.js';
import { overloaded } from '../lib/errors/index.js';
import { callDeadline, toStatus, type ServiceBinding } from '../lib/grpc/index.js';
import type { Failover, ForwardResult } from './failover.js';
import { PassThroughTokenService, TOKEN_SERVICE_NAME, type TokenMethod } from './pass-through.js';

/** Where the .proto files are, from dist/gateway at run time. */
export const DEFAULT_PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');

/** Request headers that belong to the caller's connection and are not forwarded. */
function isTransportHeader(key: string): boolean {
  return key.startsWith('grpc-') || key.startsWith(':') || key === 'user-agent' || key === 'content-type' || key === 'te' || key === 'host';
}

/** The caller's request metadata minus transport headers, or undefined when nothing is left. */
export function forwardableMetadata(md: Metadata): Metadata | undefined {
  let out: Metadata | undefined;
  for (const [key, values] of Object.entries(md.toJSON())) {
    if (isTransportHeader(key)) continue;
    out ??= new Metadata();
    for (const v of values) out.add(key, v);
  }
  return out;
}

function reply(callback: sendUnaryData<Buffer>, r: ForwardResult): void {
  if (r.ok) callback(null, r.bytes, r.trailers);
  else callback({ code: r.code, details: r.details, metadata: r.trailers });
}

/**
 * TokenService over pass-through serializers: every call goes through the failover loop. Past
 * `maxInFlight` calls a new one is shed at once with RESOURCE_EXHAUSTED (overloaded), so a
 * saturated gateway answers quickly instead of queueing without bound.
 */
export function tokenBinding(failover: Failover, log: Logger, maxInFlight = Infinity): ServiceBinding {
  let inFlight = 0;
  const handler = (method: TokenMethod) => (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
    if (inFlight >= maxInFlight) {
      const s = toStatus(overloaded('gateway saturated; retry with backoff'));
      callback({ code: s.code, details: s.details, metadata: s.metadata });
      return;
    }
    inFlight += 1;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      inFlight -= 1;
    };
    const controller = new AbortController();
    // grpc-js emits 'cancelled' when the stream closes, after a normal reply too; aborting then
    // would only build a DOMException per call for nothing.
    call.once('cancelled', () => {
      if (!done) controller.abort();
    });
    const metadata = forwardableMetadata(call.metadata);
    const deadline = callDeadline(call);
    failover
      .forward({
        method,
        bytes: call.request,
        signal: controller.signal,
        ...(metadata === undefined ? {} : { metadata }),
        ...(deadline === undefined ? {} : { deadline }),
      })
      .finally(finish)
      .then(
        (r) => reply(callback, r),
        (error: unknown) => {
          log.error({ err: error, method }, 'failover loop failed');
          const s = toStatus(error);
          callback({ code: s.code ?? status.INTERNAL, details: s.details, metadata: s.metadata });
        },
      );
  };
  const implementation: UntypedServiceImplementation = { acquireToken: handler('acquireToken'), getJwks: handler('getJwks') };
  return { name: TOKEN_SERVICE_NAME, definition: PassThroughTokenService, implementation };
}

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
