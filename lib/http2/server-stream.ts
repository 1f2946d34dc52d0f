/** One request stream of a {@link ServerConnection}: the request as it arrives, and the answer with HTTP/2 flow control. */
import type { IncomingHttpHeaders } from 'node:http';
import { ErrorCode } from './frames.js';

/** What a stream asks of its connection. */
export interface StreamHost {
  /** Sends HEADERS (+ CONTINUATION) with this encoded block. */
  sendHeaders(stream: ServerStream, block: Buffer, endStream: boolean): void;
  /** Sends as much queued DATA as the windows allow; the rest waits for WINDOW_UPDATE. */
  flushData(stream: ServerStream): void;
  /** Resets the stream with RST_STREAM. */
  reset(stream: ServerStream, code: number): void;
  /** The stream wants more request data: its receive window is opened again. */
  resumed(stream: ServerStream): void;
  /** Encodes header fields ([name, value, ...]) as an HPACK block. */
  encode(fields: readonly string[]): Buffer;
}

/** Past this many queued answer bytes `write` returns false; `ondrain` says when they are out. */
const HIGH_WATER = 64 * 1024;

/**
 * A request stream. The request arrives through `ondata`/`onend` (set them when the stream is
 * handed over); `onclose` is called once when the stream ends for any reason, answered or reset
 * by either side. The answer is `respond` (headers), `write` (DATA), `end` (trailers or an empty
 * END_STREAM), all held to the caller's flow-control windows; `close` resets the stream.
 */
export class ServerStream {
  ondata: ((chunk: Buffer) => void) | undefined;
  onend: (() => void) | undefined;
  onclose: (() => void) | undefined;
  /** Queued answer bytes fell back under the high-water mark after `write` returned false. */
  ondrain: (() => void) | undefined;

  /** The request's END_STREAM has arrived. */
  remoteEnded = false;
  /** HEADERS of the answer were sent. */
  headersSent = false;
  /** `end` was called: nothing more is written. */
  writableEnded = false;
  /** Closed: answered and the request ended, or reset by either side. */
  closed = false;
  /** Bytes the caller may still receive on this stream (its window, as the caller sets it). */
  sendWindow: number;
  /** Request bytes received since the last WINDOW_UPDATE for this stream. */
  unacked = 0;
  /** No WINDOW_UPDATE for this stream until `resume`. */
  paused = false;
  /** DATA waiting for window, oldest first; and how many bytes. */
  readonly queue: Buffer[] = [];
  queued = 0;
  /** Trailers block (or an empty END_STREAM when null) to send once the queue is empty. */
  pendingEnd: Buffer | null | undefined = undefined;
  private drainWanted = false;

  constructor(
    readonly id: number,
    readonly headers: IncomingHttpHeaders,
    private readonly host: StreamHost,
    sendWindow: number,
  ) {
    this.sendWindow = sendWindow;
  }

  /** Same as `closed`, as node's streams call it. */
  get destroyed(): boolean {
    return this.closed;
  }

  /** Sends the answer's headers (fields as [name, value, ...]); with `endStream` the answer is complete (trailers-only). */
  respond(fields: readonly string[], endStream = false): void {
    this.respondBlock(this.host.encode(fields), endStream);
  }

  /** `respond` with a block encoded once beforehand. */
  respondBlock(block: Buffer, endStream = false): void {
    if (this.closed || this.headersSent) return;
    this.headersSent = true;
    if (endStream) this.writableEnded = true;
    this.host.sendHeaders(this, block, endStream);
  }

  /** Queues DATA; false once more than the high-water mark waits for the caller's window. */
  write(data: Buffer): boolean {
    if (this.closed || this.writableEnded || !this.headersSent) return false;
    if (data.length > 0) {
      this.queue.push(data);
      this.queued += data.length;
      this.host.flushData(this);
    }
    if (this.queued > HIGH_WATER) {
      this.drainWanted = true;
      return false;
    }
    return true;
  }

  /** Ends the answer after what is queued: with trailers (fields or an encoded block), or an empty DATA with END_STREAM. */
  end(trailers?: readonly string[] | Buffer): void {
    if (this.closed || this.writableEnded || !this.headersSent) return;
    this.writableEnded = true;
    this.pendingEnd = trailers === undefined ? null : Buffer.isBuffer(trailers) ? trailers : this.host.encode(trailers);
    this.host.flushData(this);
  }

  /** Resets the stream (RST_STREAM with `code`, NO_ERROR by default) unless it is closed already. */
  close(code: number = ErrorCode.NO_ERROR): void {
    if (!this.closed) this.host.reset(this, code);
  }

  /** Stops opening the request's window: the caller can send at most what it allows now. */
  pause(): void {
    this.paused = true;
  }

  /** Opens the request's window again for what was read while paused. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.closed) this.host.resumed(this);
  }

  /** Called by the connection after queued DATA went out. */
  drained(): void {
    if (this.drainWanted && this.queued <= HIGH_WATER) {
      this.drainWanted = false;
      this.ondrain?.();
    }
  }
}
