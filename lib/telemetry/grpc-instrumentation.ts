import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';

type UnaryCallback = (err: unknown, value?: unknown, trailer?: unknown, flags?: unknown) => void;
type Handler = (this: unknown, call: object, callback: UnaryCallback) => unknown;
type Register = (this: { handlers: Map<string, { func: Handler }> }, name: string, handler: Handler, ...rest: unknown[]) => unknown;
type PatchServer = () => (original: Register) => Register;

/**
 * The grpc-js instrumentation, keeping the trailing metadata of unary answers.
 *
 * Its server wrapper passes a callback to the handler that forwards `(err, value)` only, so the
 * trailers a handler sends with a successful answer (`authmesh-data-age-ms`, the gateway's
 * `authmesh-fault-domain` and `authmesh-attempts`) would be dropped whenever tracing is on. The
 * handler's trailers are noted on the way in and handed to grpc-js's own callback on the way out.
 */
export class TrailerKeepingGrpcInstrumentation extends GrpcInstrumentation {
  constructor() {
    super();
    const self = this as unknown as { _patchServer: PatchServer };
    const instrumented = self._patchServer.bind(this);
    self._patchServer = () => {
      const patch = instrumented();
      return (original: Register): Register => {
        const register = patch(original);
        return function (this: { handlers: Map<string, { func: Handler }> }, name: string, handler: Handler, ...rest: unknown[]) {
          const type = rest[2];
          if (type !== 'unary' && type !== 'clientStream') return register.call(this, name, handler, ...rest);
          const trailers = new WeakMap<object, unknown>();
          const noting: Handler = function (call, callback) {
            return handler.call(this, call, (err, value, trailer, flags) => {
              if (trailer !== undefined) trailers.set(call, trailer);
              callback(err, value, trailer, flags);
            });
          };
          const result = register.call(this, name, noting, ...rest);
          const set = this.handlers.get(name);
          if (set !== undefined) {
            const wrapped = set.func;
            set.func = function (call, callback) {
              return wrapped.call(this, call, (err, value, trailer, flags) => callback(err, value, trailer ?? trailers.get(call), flags));
            };
          }
          return result;
        };
      };
    };
  }
}
