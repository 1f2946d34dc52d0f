/** One TokenRelayService stream to a domain: many calls go out on it as messages and come back matched by id. */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { status } from '@grpc/grpc-js';
import { context, propagation, type Context, type Span } from '@opentelemetry/api';
import { endDomainCallSpan, type DomainCallSpans } from './domain-call-span.js';
import { RelayRequest, RelayResponse, TokenRelayServiceService } from '../../gen/authmesh/relay/v1/relay.js';
import { mapToMetadata, metadataToMap, RELAY_BATCH_HEADER } from '../../lib/grpc/relay.js';
import { backendError, cancelledByCaller, type BackendCallOptions, type BackendError, type BackendReply } from '../routing/token-backend.js';
import { MessageReader, messagePrefix } from '../../lib/grpc/framing.js';
import { reusingEncoder } from '../../lib/grpc/reusing-encoder.js';
import type { Connection } from './relay-direct-calls.js';
import { wireMethodName, type TokenMethod } from '../pass-through.js';
import { IdTable } from '../../lib/runtime/id-table.js';

const RELAY_PATH = TokenRelayServiceService.relay.path;
/** Every relayed call is encoded through one kept writer. */
const encodeRelayRequest = reusingEncoder(RelayRequest);
const EMPTY = Buffer.alloc(0);
const METHOD_NAMES: Readonly<Record<TokenMethod, string>> = { acquireToken: wireMethodName('acquireToken'), getJwks: wireMethodName('getJwks') };

/** One call waiting for its answer on a relay stream. */
interface Pending {
  resolve(reply: BackendReply): void;
  reject(error: BackendError): void;
  /** Sends the call again as a call of its own (the domain has no relay service). */
  resend(): void;
  timer: NodeJS.Timeout;
  options: BackendCallOptions;
  onAbort: () => void;
}

/** What {@link RelayStream} knows of a call while it builds its {@link Pending}. */
interface CallInProgress {
  span: Span;
  timeoutMs: number;
  sentAt: number;
  /** The call's own trace context, for a resend. */
  callContext: Context;
  options: BackendCallOptions;
  resend: () => Promise<BackendReply>;
  resolve(reply: BackendReply): void;
  reject(error: unknown): void;
}

/** One HTTP/2 stream of the relay and the calls waiting on it. */
interface Open {
  stream: ClientHttp2Stream;
  pending: IdTable<Pending>;
  /** When the last answer arrived on it. */
  answeredAt: number;
  /** The mesh token it was opened with: the domain checks every call on it against that one. */
  bearer: string | undefined;
  /** Messages sent since the last flush: they go out in one write at the end of the event that sent them. */
  out: Buffer[];
  flushQueued: boolean;
}

/**
 * One TokenRelayService stream on one connection: calls go out as messages on it and come back
 * in any order, matched by id. When the stream ends, every call still waiting fails as
 * UNAVAILABLE (so the gateway moves on to the next domain at once), or, when the domain answered
 * UNIMPLEMENTED (it has no relay), is sent again as a call of its own.
 */
export class RelayStream {
  private current: Open | undefined;
  private nextId = 1;

  constructor(
    private readonly name: string,
    private readonly connection: Connection,
    private readonly bearerToken: () => string | undefined,
    private readonly onUnimplemented: () => void,
    private readonly spans: DomainCallSpans,
  ) {}

  call(method: TokenMethod, requestBytes: Buffer, options: BackendCallOptions, resend: () => Promise<BackendReply>): Promise<BackendReply> {
    return new Promise<BackendReply>((resolve, reject) => {
      const open = this.open();
      if (open === undefined) {
        reject(backendError(status.UNAVAILABLE, `${this.name}: no connection (reconnecting after a failed connect)`));
        return;
      }
      const id = this.nextId;
      this.nextId = this.nextId >= 0xffff_fffe ? 1 : this.nextId + 1;
      const timeoutMs = Math.max(1, Math.ceil(options.deadline - Date.now()));
      const sentAt = Date.now();
      const callContext = context.active();
      const { span, context: spanContext } = this.spans.start(method);
      const metadata = metadataToMap(options.metadata);
      propagation.inject(spanContext, metadata);
      const pending = this.pending(open, id, { span, timeoutMs, sentAt, callContext, options, resend, resolve, reject });
      options.signal?.addEventListener('abort', pending.onAbort, { once: true });
      open.pending.set(id, pending);
      this.send(open, encodeRelayRequest({ id, method: METHOD_NAMES[method], message: requestBytes, timeoutMs: Math.min(timeoutMs, 0xffff_ffff), metadata, cancel: false }));
    });
  }

  /** The bookkeeping of one call on `open`: how it settles, times out, is cancelled or sent again. */
  private pending(open: Open, id: number, call: CallInProgress): Pending {
    const { span, timeoutMs, sentAt, callContext, options, resend, resolve, reject } = call;
    const done = (): void => {
      open.pending.delete(id);
      clearTimeout(pending.timer);
      options.signal?.removeEventListener('abort', pending.onAbort);
    };
    const pending: Pending = {
      resolve: (r) => {
        done();
        endDomainCallSpan(span);
        resolve(r);
      },
      reject: (e) => {
        done();
        endDomainCallSpan(span, e);
        reject(e);
      },
      resend: () => {
        done();
        endDomainCallSpan(span, backendError(status.UNIMPLEMENTED, `${this.name}: no relay; sent as a call of its own`));
        // In the call's own trace context, not the one the stream's close event runs in.
        context.with(callContext, resend).then(resolve, reject);
      },
      timer: setTimeout(() => {
        pending.reject(backendError(status.DEADLINE_EXCEEDED, `${this.name}: no answer within ${timeoutMs} ms`));
        this.deadlinePassed(open, id, sentAt);
      }, timeoutMs),
      options,
      onAbort: () => {
        pending.reject(cancelledByCaller());
        this.cancel(open, id);
      },
    };
    return pending;
  }

  /**
   * The open stream, a new one, or undefined while the connection backs off. A stream opened with
   * a mesh token that has since been replaced is half-closed (the domain answers what it owes) and
   * new calls go to a stream with the current one.
   */
  private open(): Open | undefined {
    const bearer = this.bearerToken();
    const current = this.current;
    if (current !== undefined && !current.stream.closed && !current.stream.destroyed) {
      if (current.bearer === bearer) return current;
      this.current = undefined;
      this.end(current);
    }
    const session = this.connection.get();
    if (session === undefined) return undefined;
    // Answers that finish together come back packed in one message (RelayResponse.more).
    const headers: OutgoingHttpHeaders = { ':method': 'POST', ':path': RELAY_PATH, 'content-type': 'application/grpc', te: 'trailers', [RELAY_BATCH_HEADER]: '1' };
    if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers);
    } catch {
      return undefined;
    }
    const open: Open = { stream, pending: new IdTable(), answeredAt: 0, bearer, out: [], flushQueued: false };
    this.listen(open, session);
    this.current = open;
    return open;
  }

  /** Reads the answers on a new stream, and fails or resends its calls when it ends or the domain sends GOAWAY. */
  private listen(open: Open, session: ClientHttp2Session): void {
    const stream = open.stream;
    const reader = new MessageReader();
    let statusHeaders: IncomingHttpHeaders | undefined;
    stream.on('response', (h) => {
      if (h['grpc-status'] !== undefined) statusHeaders = h;
    });
    stream.on('trailers', (t) => {
      statusHeaders = t;
    });
    stream.on('data', (chunk: Buffer) => reader.push(chunk, (m) => this.deliver(open, m)));
    stream.on('error', () => undefined);
    stream.on('close', () => this.ended(open, statusHeaders));
    // A domain shutting down sends GOAWAY: new calls go to a new stream (a new connection), and
    // this one is half-closed so the domain answers what it owes and ends it.
    session.once('goaway', () => {
      if (this.current === open) this.current = undefined;
      if (!stream.closed) this.end(open);
    });
  }

  /** A call sent at `sentAt` ran out of time: the domain cancels it, or the stream is reset as stalled. */
  private deadlinePassed(open: Open, id: number, sentAt: number): void {
    if (open.answeredAt >= sentAt) {
      this.cancel(open, id);
      return;
    }
    // Nothing answered since the call was sent: new calls go to a new stream now. Timers run
    // before the loop reads its sockets, so when the gateway itself was held up (a long GC, a
    // starved CPU) answers may sit unread on this one: the verdict waits until this turn's reads
    // are done, and a stream that did answer is not reset with every call on it.
    if (this.current === open) this.current = undefined;
    setImmediate(() => {
      if (this.stalled(open, sentAt)) return;
      this.cancel(open, id);
      const usable = !open.stream.closed && !open.stream.writableEnded;
      if (usable && this.current === undefined) this.current = open;
      else if (usable) this.end(open);
    });
  }

  /**
   * A call ran out of time and nothing came back on its stream since it was sent: the domain is
   * not reading (hung, SIGSTOPped). The stream is reset, failing the calls still on it, so the
   * domain drops what is queued for it when it wakes (as it drops calls reset one by one) instead
   * of working through a backlog nobody waits for; the next call opens a new stream.
   */
  private stalled(open: Open, sentAt: number): boolean {
    if (open.answeredAt >= sentAt || open.stream.closed) return false;
    open.stream.close(http2.constants.NGHTTP2_CANCEL);
    return true;
  }

  /**
   * Tells the domain the gateway stopped waiting for a call, as a reset of a call's own stream
   * would: the domain cancels it (freeing, say, its admission slot) and sends no answer.
   */
  private cancel(open: Open, id: number): void {
    if (open.stream.closed || open.stream.destroyed || open.stream.writableEnded) return;
    this.send(open, encodeRelayRequest({ id, method: '', message: EMPTY, timeoutMs: 0, metadata: {}, cancel: true }));
  }

  /**
   * Queues one message for `open`. The messages sent while handling one event (the calls of one
   * read from a caller's connection) go out in one write: one pass through the stream's machinery
   * and one DATA frame for all of them, instead of one per call. The write is made at the end of
   * that event (`process.nextTick`), not at the next `setImmediate`: node:http2 sends what a write
   * queued at the loop's next check phase, which a write made in a check-phase callback would miss,
   * costing every call another turn of the loop.
   */
  private send(open: Open, message: Buffer): void {
    open.out.push(messagePrefix(message.length), message);
    if (open.flushQueued) return;
    open.flushQueued = true;
    process.nextTick(() => this.flush(open));
  }

  private flush(open: Open): void {
    open.flushQueued = false;
    if (open.out.length === 0) return;
    const bytes = Buffer.concat(open.out);
    open.out.length = 0;
    // A stream that ended has failed or answered its calls already.
    if (open.stream.closed || open.stream.destroyed || open.stream.writableEnded) return;
    open.stream.write(bytes);
  }

  /** Half-closes `open` after what is queued for it: the domain answers what it owes and ends it. */
  private end(open: Open): void {
    this.flush(open);
    open.stream.end();
  }

  private deliver(open: Open, bytes: Buffer): void {
    open.answeredAt = Date.now();
    let res: RelayResponse;
    try {
      res = RelayResponse.decode(bytes);
    } catch {
      return;
    }
    this.settle(open, res);
    // Answers packed behind it (the stream asked for them); they carry no further answers.
    for (const more of res.more) this.settle(open, more);
  }

  private settle(open: Open, res: RelayResponse): void {
    const p = open.pending.get(res.id);
    if (p === undefined) return; // timed out or cancelled meanwhile
    const trailers = mapToMetadata(res.trailers);
    if (res.code === status.OK) p.resolve({ bytes: Buffer.from(res.message.buffer, res.message.byteOffset, res.message.byteLength), trailers });
    else p.reject(backendError(res.code, res.details, trailers));
  }

  private ended(open: Open, statusHeaders: IncomingHttpHeaders | undefined): void {
    if (this.current === open) this.current = undefined;
    const code = Number(statusHeaders?.['grpc-status']);
    const calls = open.pending.values();
    if (code === status.UNIMPLEMENTED) {
      this.onUnimplemented();
      for (const p of calls) p.resend();
      return;
    }
    const why = Number.isInteger(code) ? `status ${status[code] ?? code}` : `rst ${open.stream.rstCode ?? 'none'}`;
    for (const p of calls) p.reject(backendError(status.UNAVAILABLE, `${this.name}: relay stream ended (${why})`));
  }

  close(): void {
    this.current?.stream.close(http2.constants.NGHTTP2_CANCEL);
    this.connection.close();
  }
}
