import { EventEmitter } from 'node:events';
import {
  Metadata,
  status,
  type handleUnaryCall,
  type MethodDefinition,
  type ServerDuplexStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { RelayResponse, TokenRelayServiceService, type RelayRequest } from '../../gen/authmesh/relay/v1/relay.js';
import { decodeInHandler, malformedRequest } from './decode-in-handler.js';
import { reusingEncoder } from './reusing-encoder.js';
import type { ServiceBinding } from './serve.js';
import { toStatus } from './status-map.js';
import { NO_SPAN, tracingActive } from '../telemetry/tracing-active.js';
import { IdTable } from '../runtime/id-table.js';

const TRACER = 'authmesh-relay';

/** Fully qualified name of the relay service, for grpc.health.v1. */
export const RELAY_SERVICE_NAME = 'authmesh.relay.v1.TokenRelayService';

/**
 * Stream metadata with which a gateway asks for answers packed into `RelayResponse.more` (value
 * `1`); a stream opened without it gets one message per answer.
 */
export const RELAY_BATCH_HEADER = 'authmesh-relay-batch';

/** The most answers and bytes of answers packed into one relay message. */
export const RELAY_BATCH_LIMITS = { answers: 64, bytes: 256 * 1024 };

/** Metadata as the relay's string map: `-bin` values base64, several values joined with ", ". */
export function metadataToMap(md: Metadata | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (md === undefined) return out;
  for (const [key, values] of Object.entries(md.toJSON())) {
    if (values.length === 0) continue;
    out[key] = values.map((v) => (typeof v === 'string' ? v : v.toString('base64'))).join(key.endsWith('-bin') ? ',' : ', ');
  }
  return out;
}

/** The reverse of {@link metadataToMap} (grpc-js reads it as it reads HTTP/2 headers). */
export const mapToMetadata = (map: Readonly<Record<string, string>>): Metadata => Metadata.fromHttp2Headers(map);

interface Target {
  name: string;
  /** The method's own name (`AcquireToken`). */
  method: string;
  definition: MethodDefinition<unknown, unknown>;
  handler: handleUnaryCall<unknown, unknown>;
}

type RelayCall = ServerDuplexStream<RelayRequest, RelayResponse>;

/**
 * What a unary handler sees of a relayed call: the request, its metadata (the stream's plus the
 * call's own), deadline, peer and TLS identity of the relay stream, and a 'cancelled' event when
 * the stream goes away before the answer.
 */
class RelayedCall extends EventEmitter {
  cancelled = false;

  constructor(
    readonly request: unknown,
    readonly metadata: Metadata,
    private readonly deadline: number,
    private readonly stream: RelayCall,
    private readonly path: string,
  ) {
    super();
  }

  getDeadline(): number {
    return this.deadline;
  }

  getPeer(): string {
    return this.stream.getPeer();
  }

  getAuthContext(): ReturnType<RelayCall['getAuthContext']> {
    return this.stream.getAuthContext();
  }

  getPath(): string {
    return this.path;
  }

  sendMetadata(): void {
    // Relayed answers carry trailers only.
  }
}

/** The answers of one relay stream on their way out. */
interface AnswerWriter {
  write(res: RelayResponse): void;
  /** Ends the stream once nothing is owed (`done()`) and every answer is written. */
  endWhenDone(): void;
}

/**
 * Writes a relay stream's answers. grpc-js writes a stream's messages one at a time, each after
 * the previous one's write finished, so answers that finish together would otherwise go out in a
 * write each. With `batch`, an answer made while a message is being written waits, and when that
 * write finishes every waiting answer goes out in one message (`more`, within
 * {@link RELAY_BATCH_LIMITS}): nothing waits when the stream is idle, and a burst costs one write.
 */
function answerWriter(stream: RelayCall, batch: boolean, done: () => boolean): AnswerWriter {
  const waiting: RelayResponse[] = [];
  let writing = false;
  const gone = (): boolean => stream.cancelled || stream.destroyed || stream.writableEnded;
  const endWhenDone = (): void => {
    if (done() && !writing && waiting.length === 0 && !gone()) stream.end();
  };
  const written = (err?: Error | null): void => {
    writing = false;
    if (err !== undefined && err !== null) waiting.length = 0; // the stream failed: nobody reads these
    if (waiting.length > 0 && !gone()) {
      writing = true;
      stream.write(takeBatch(waiting), written);
      return;
    }
    endWhenDone();
  };
  return {
    write(res) {
      if (gone()) return;
      if (!batch) stream.write(res);
      else if (writing) waiting.push(res);
      else {
        writing = true;
        stream.write(res, written);
      }
      endWhenDone();
    },
    endWhenDone,
  };
}

/** The answer to call `id` that failed with `code`: no message, and `trailers`. */
const failure = (id: number, code: number, details: string, trailers: Record<string, string> = {}): RelayResponse => ({ id, code, details, message: Buffer.alloc(0), trailers, more: [] });

/** The first waiting answers that fit in one message, the first carrying the rest in `more`. */
function takeBatch(waiting: RelayResponse[]): RelayResponse {
  let n = 1;
  let bytes = waiting[0]!.message.length;
  while (n < waiting.length && n < RELAY_BATCH_LIMITS.answers && bytes + waiting[n]!.message.length <= RELAY_BATCH_LIMITS.bytes) {
    bytes += waiting[n]!.message.length;
    n++;
  }
  const [first, ...more] = waiting.splice(0, n);
  return { ...first!, more };
}

/**
 * TokenRelayService over a unary service binding (TokenService with whatever guards wrap it:
 * admission control, fault injection, caller checks). Every relayed call goes into that binding's
 * own handler through a call object carrying the request, metadata and deadline, so it is
 * answered exactly as a direct call would be; only the framing differs. A server span per call is
 * joined to the trace context in the call's metadata, as for a direct call.
 */
export function relayBinding(target: ServiceBinding): ServiceBinding {
  const methods = new Map<string, Target>();
  for (const [key, def] of Object.entries(target.definition)) {
    const handler = target.implementation[key];
    if (def.requestStream || def.responseStream || typeof handler !== 'function') continue;
    const method = def.path.slice(def.path.lastIndexOf('/') + 1);
    methods.set(method, { name: def.path.slice(1), method, definition: def, handler: handler as handleUnaryCall<unknown, unknown> });
  }
  const tracer = trace.getTracer(TRACER);
  const [serviceName] = target.name.split('/');

  const relay = (stream: RelayCall): void => {
    const pending = new IdTable<RelayedCall>();
    let open = true;
    const streamMetadata = stream.metadata;
    const end = (): void => {
      open = false;
      for (const call of pending.values()) {
        call.cancelled = true;
        call.emit('cancelled', 'relay stream ended');
      }
      pending.clear();
    };
    stream.on('cancelled', end);
    stream.on('error', end);
    const writer = answerWriter(stream, streamMetadata.get(RELAY_BATCH_HEADER)[0] === '1', () => !open && pending.size === 0);
    stream.on('end', () => {
      // The gateway closed its side: answers still owed are sent, then the stream ends.
      open = false;
      writer.endWhenDone();
    });
    const answer = (res: RelayResponse, call?: RelayedCall): void => {
      if (call !== undefined) {
        // A call the gateway cancelled gets no answer.
        if (call.cancelled) return;
        pending.delete(res.id);
      }
      writer.write(res);
    };
    stream.on('data', (req: RelayRequest) => {
      // Calls still queued on a stream the gateway reset or closed: nobody waits for them.
      if (!open) return;
      if (req.cancel) {
        const call = pending.get(req.id);
        if (call !== undefined && !call.cancelled) {
          pending.delete(req.id);
          call.cancelled = true;
          call.emit('cancelled', 'cancelled by the gateway');
        }
        return;
      }
      const m = methods.get(req.method);
      if (m === undefined) {
        answer(failure(req.id, status.UNIMPLEMENTED, `no method ${req.method} in ${target.name}`));
        return;
      }
      let request: unknown;
      try {
        request = m.definition.requestDeserialize(Buffer.from(req.message.buffer, req.message.byteOffset, req.message.byteLength));
      } catch (err) {
        // The caller's error, as for a direct call (see decode-in-handler.ts), never INTERNAL.
        const s = toStatus(malformedRequest(err));
        answer(failure(req.id, s.code, s.details, metadataToMap(s.metadata)));
        return;
      }
      // The stream's own metadata (the gateway's credential) wins: a call's metadata adds keys, it
      // never adds to or replaces one the stream carries.
      // No handler changes a call's metadata, so calls without metadata of their own share the
      // stream's.
      let metadata = streamMetadata;
      let own: Record<string, string> | undefined;
      for (const key in req.metadata) if (streamMetadata.get(key).length === 0) (own ??= {})[key] = req.metadata[key]!;
      if (own !== undefined) {
        metadata = streamMetadata.clone();
        metadata.merge(mapToMetadata(own));
      }
      const deadline = req.timeoutMs > 0 ? Date.now() + req.timeoutMs : Infinity;
      const call = new RelayedCall(request, metadata, deadline, stream, m.definition.path);
      pending.set(req.id, call);
      // Telemetry off: the handler runs as it is, with no span or context that would go nowhere.
      const parent = tracingActive(TRACER) ? propagation.extract(context.active(), req.metadata) : undefined;
      const span = parent === undefined ? NO_SPAN : tracer.startSpan(`grpc.${m.name}`, { kind: SpanKind.SERVER, attributes: { 'rpc.system': 'grpc', 'rpc.service': serviceName, 'rpc.method': m.method, 'authmesh.relayed': true } }, parent);
      const callback = (err: Partial<ServiceError> | null, value?: unknown, trailer?: Metadata): void => {
        let res: RelayResponse;
        if (err !== null && err !== undefined) {
          const code = typeof err.code === 'number' ? err.code : status.UNKNOWN;
          res = failure(req.id, code, err.details ?? err.message ?? '', metadataToMap(err.metadata));
        } else {
          try {
            res = { id: req.id, code: status.OK, details: '', message: m.definition.responseSerialize(value), trailers: metadataToMap(trailer), more: [] };
          } catch (e) {
            res = failure(req.id, status.INTERNAL, `Error serializing response: ${(e as Error).message}`);
          }
        }
        span.setAttribute('rpc.grpc.status_code', res.code);
        if (res.code !== status.OK) span.setStatus({ code: SpanStatusCode.ERROR, message: res.details });
        span.end();
        answer(res, call);
      };
      try {
        if (parent === undefined) m.handler(call as never, callback as never);
        else context.with(trace.setSpan(parent, span), () => m.handler(call as never, callback as never));
      } catch (err) {
        callback({ code: status.INTERNAL, details: `handler failed: ${(err as Error).message}` });
      }
    });
  };

  // Every answer on the stream is encoded through one kept writer.
  const definition = { relay: { ...TokenRelayServiceService.relay, responseSerialize: reusingEncoder(RelayResponse) } };
  return { name: RELAY_SERVICE_NAME, definition, implementation: { relay } };
}

/**
 * The bindings plus TokenRelayService over the one named `name`, built from it as it stands in
 * the list, guards included (that service's direct calls then decode their request in the handler): gateways relay that service's calls many to a stream, and each is
 * checked and answered as a direct call.
 */
export function withRelay(bindings: readonly ServiceBinding[], name: string): ServiceBinding[] {
  const target = bindings.find((b) => b.name === name);
  if (target === undefined) throw new Error(`withRelay: no service ${name} among the bindings`);
  // The relayed service is the public one: its direct calls decode in the handler too, so bad
  // bytes are the caller's INVALID_ARGUMENT on either path (see decode-in-handler.ts).
  return [...bindings.map((b) => (b === target ? decodeInHandler(b) : b)), relayBinding(target)];
}
