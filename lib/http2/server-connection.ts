/**
 * The server side of one HTTP/2 connection (RFC 9113) for gRPC: frames in and out, HPACK, stream
 * states, both directions of flow control, and the limits a hostile caller meets. Requests are
 * handed over as {@link ServerStream}s; answers are written in one batch per turn of the event loop.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  CLIENT_PREFACE,
  ConnectionError,
  dataFrames,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FRAME_HEADER_BYTES,
  FrameType,
  goawayFrame,
  headersFrames,
  MAX_FRAME_SIZE_LIMIT,
  MAX_STREAM_ID,
  MAX_WINDOW,
  pingFrame,
  rstStreamFrame,
  Setting,
  SETTINGS_ACK,
  settingsFrame,
  StreamError,
  windowUpdateFrame,
} from './frames.js';
import { encodeFields, HpackDecoder, HpackError } from './hpack.js';
import { requestHeaders } from './request-headers.js';
import { ServerStream, type StreamHost } from './server-stream.js';
import { IdTable } from '../runtime/id-table.js';

/** What one connection lets its caller make it hold and do. */
export interface ConnectionLimits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS: streams open at once; more are refused (REFUSED_STREAM). */
  maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE, octets as RFC 9113 counts them; a larger request is answered RESOURCE_EXHAUSTED. */
  maxHeaderListSize: number;
  /** The request window of each stream (SETTINGS_INITIAL_WINDOW_SIZE). */
  streamWindow: number;
  /** The request window of the whole connection. */
  connectionWindow: number;
  /** Answer bytes the connection may hold unsent (the caller not reading); past it the connection ends with ENHANCE_YOUR_CALM. */
  maxOutboundBytes: number;
  /** Time from accepting the connection to the caller's preface and SETTINGS; past it the connection is closed. */
  handshakeTimeoutMs: number;
  /** Streams the caller may reset within one second before the connection ends with ENHANCE_YOUR_CALM. */
  maxResetsPerSecond: number;
  /** Empty DATA, CONTINUATION-only or PRIORITY frames within one second before ENHANCE_YOUR_CALM. */
  maxIdleFramesPerSecond: number;
}

export const CONNECTION_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  maxConcurrentStreams: 100,
  maxHeaderListSize: 16 * 1024,
  streamWindow: 1024 * 1024,
  connectionWindow: 16 * 1024 * 1024,
  maxOutboundBytes: 32 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  maxResetsPerSecond: 1_000,
  maxIdleFramesPerSecond: 10_000,
});

/** Largest header block (HEADERS plus CONTINUATION) taken before the connection ends. */
const MAX_HEADER_BLOCK_FACTOR = 4;

/** The answer to a request whose header list is larger than the connection takes. */
const TOO_LARGE = ['grpc-status', '8', 'grpc-message', 'request%20headers%20too%20large'];

/**
 * One HTTP/2 server connection over `socket` (TCP, or TLS after ALPN chose h2). `onStream` gets
 * every request stream once its headers are in; it sets the stream's callbacks right away.
 */
export class ServerConnection implements StreamHost {
  private readonly streams = new IdTable<ServerStream>();
  private readonly decoder: HpackDecoder;
  private readonly out: Buffer[] = [];
  private flushQueued = false;
  private rest: Buffer | undefined;
  private prefaceSeen = false;
  private settingsSeen = false;
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** Highest stream id the caller opened. */
  private lastStreamId = 0;
  /** Header block being assembled from HEADERS + CONTINUATION. */
  private block: { streamId: number; endStream: boolean; parts: Buffer[]; size: number } | undefined;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private sendWindow = DEFAULT_WINDOW;
  /** Request bytes received since the last connection WINDOW_UPDATE. */
  private unacked = 0;
  /** Streams with DATA waiting for the connection window. */
  private readonly blocked = new Set<ServerStream>();
  private ended = false;
  /** After GOAWAY: streams above this id are not taken. */
  private acceptUpTo = MAX_STREAM_ID;
  private goawaySent = false;
  /** The caller sent GOAWAY before we did. */
  private peerGoaway = false;
  private pingAcks: Array<() => void> = [];
  private windowStart = 0;
  private resets = 0;
  private idleFrames = 0;
  /** Called once when the connection is gone. */
  onclose: (() => void) | undefined;

  constructor(
    private readonly socket: Duplex,
    private readonly onStream: (stream: ServerStream) => void,
    private readonly limits: ConnectionLimits = CONNECTION_LIMITS,
    private readonly now: () => number = Date.now,
    /** A handler's own failure (not the caller's input): by default thrown on. */
    private readonly onError: (err: unknown) => void = (err) => {
      throw err;
    },
  ) {
    this.decoder = new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: limits.maxHeaderListSize });
    this.push(
      settingsFrame([
        [Setting.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, limits.streamWindow],
        [Setting.MAX_HEADER_LIST_SIZE, limits.maxHeaderListSize],
      ]),
    );
    if (limits.connectionWindow > DEFAULT_WINDOW) this.push(windowUpdateFrame(0, limits.connectionWindow - DEFAULT_WINDOW));
    this.handshakeTimer = setTimeout(() => this.destroy(), limits.handshakeTimeoutMs);
    this.handshakeTimer.unref();
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.destroy());
    socket.on('end', () => this.destroy());
  }

  /** Streams open now. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** Whether the connection is still up. */
  get alive(): boolean {
    return !this.ended;
  }

  /**
   * Graceful GOAWAY: a first one that refuses nothing (the caller stops opening streams), a
   * PING, and once it comes back a second one naming the last stream taken; the connection
   * ends when its open streams are done.
   */
  shutdown(): void {
    if (this.ended || this.goawaySent) return;
    this.goawaySent = true;
    this.push(goawayFrame(MAX_STREAM_ID, ErrorCode.NO_ERROR, 'shutdown'));
    this.ping(() => {
      this.acceptUpTo = this.lastStreamId;
      this.push(goawayFrame(this.lastStreamId, ErrorCode.NO_ERROR, 'shutdown'));
      this.endIfIdle();
    });
  }

  /** Ends the connection now; open streams see `onclose`. */
  destroy(socketToo = true): void {
    if (this.ended) return;
    this.flush();
    this.ended = true;
    clearTimeout(this.handshakeTimer);
    for (const stream of this.streams.values()) this.closeStream(stream);
    if (socketToo) this.socket.destroy();
    this.onclose?.();
  }

  // ---- StreamHost: what streams ask of the connection ----

  encode(fields: readonly string[]): Buffer {
    return encodeFields(fields);
  }

  sendHeaders(stream: ServerStream, block: Buffer, endStream: boolean): void {
    this.push(headersFrames(stream.id, block, endStream, this.peerMaxFrameSize));
    if (endStream) this.localEnd(stream);
  }

  flushData(stream: ServerStream): void {
    while (stream.queue.length > 0) {
      const allowed = Math.min(stream.sendWindow, this.sendWindow);
      if (allowed <= 0) {
        this.blocked.add(stream);
        return;
      }
      const head = stream.queue[0]!;
      const chunk = head.length <= allowed ? head : head.subarray(0, allowed);
      if (chunk === head) stream.queue.shift();
      else stream.queue[0] = head.subarray(allowed);
      stream.queued -= chunk.length;
      stream.sendWindow -= chunk.length;
      this.sendWindow -= chunk.length;
      const last = stream.queue.length === 0 && stream.pendingEnd === null;
      this.push(dataFrames(stream.id, chunk, last, this.peerMaxFrameSize));
      if (last) {
        stream.pendingEnd = undefined;
        this.localEnd(stream);
        return;
      }
    }
    this.blocked.delete(stream);
    if (stream.pendingEnd !== undefined) {
      const trailers = stream.pendingEnd;
      stream.pendingEnd = undefined;
      if (trailers === null) this.push(dataFrames(stream.id, Buffer.alloc(0), true, this.peerMaxFrameSize));
      else this.push(headersFrames(stream.id, trailers, true, this.peerMaxFrameSize));
      this.localEnd(stream);
      return;
    }
    stream.drained();
  }

  reset(stream: ServerStream, code: number): void {
    this.push(rstStreamFrame(stream.id, code));
    this.closeStream(stream);
  }

  resumed(stream: ServerStream): void {
    if (stream.unacked > 0) {
      this.push(windowUpdateFrame(stream.id, stream.unacked));
      stream.unacked = 0;
    }
  }

  // ---- output ----

  /** Queues bytes for the one write of this turn. */
  private push(bytes: Buffer): void {
    if (this.ended) return;
    this.out.push(bytes);
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.out.length === 0 || this.socket.destroyed) return;
    const bytes = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out.length = 0;
    this.socket.write(bytes);
    if (this.socket.writableLength > this.limits.maxOutboundBytes) this.fail(new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'too many unread bytes'));
  }

  private ping(onAck: () => void): void {
    this.pingAcks.push(onAck);
    this.push(pingFrame(Buffer.alloc(8), false));
  }

  /** Our END_STREAM went out: the stream closes if the request had ended too. */
  private localEnd(stream: ServerStream): void {
    stream.writableEnded = true;
    if (stream.remoteEnded) this.closeStream(stream);
  }

  private closeStream(stream: ServerStream): void {
    if (stream.closed) return;
    stream.closed = true;
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    stream.queue.length = 0;
    stream.queued = 0;
    stream.onclose?.();
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.goawaySent && this.acceptUpTo !== MAX_STREAM_ID && this.streams.size === 0 && !this.ended) {
      // The caller's GOAWAY gets one back, so both sides end knowing the last stream taken.
      if (this.peerGoaway) this.push(goawayFrame(this.lastStreamId, ErrorCode.NO_ERROR));
      this.flush();
      this.ended = true;
      clearTimeout(this.handshakeTimer);
      this.socket.end();
      this.onclose?.();
    }
  }

  /** A connection error: GOAWAY with its code, then the connection ends (the socket once the GOAWAY is out, or a second later). */
  private fail(err: ConnectionError): void {
    if (this.ended) return;
    this.out.push(goawayFrame(this.lastStreamId, err.code, err.message));
    this.flush();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.destroy(false);
  }

  // ---- input ----

  private receive(chunk: Buffer): void {
    if (this.ended) return;
    let buf = this.rest === undefined ? chunk : Buffer.concat([this.rest, chunk]);
    this.rest = undefined;
    try {
      if (!this.prefaceSeen) {
        if (buf.length < CLIENT_PREFACE.length) {
          if (!CLIENT_PREFACE.subarray(0, buf.length).equals(buf)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'not an HTTP/2 client preface');
          this.rest = buf;
          return;
        }
        if (!buf.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'not an HTTP/2 client preface');
        this.prefaceSeen = true;
        buf = buf.subarray(CLIENT_PREFACE.length);
      }
      let at = 0;
      while (buf.length - at >= FRAME_HEADER_BYTES) {
        const length = (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
        if (length > DEFAULT_MAX_FRAME_SIZE) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes is larger than SETTINGS_MAX_FRAME_SIZE`);
        if (buf.length - at < FRAME_HEADER_BYTES + length) break;
        const type = buf[at + 3]!;
        const flags = buf[at + 4]!;
        const streamId = buf.readUInt32BE(at + 5) & MAX_STREAM_ID;
        const payload = buf.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length);
        at += FRAME_HEADER_BYTES + length;
        try {
          this.onFrame(type, flags, streamId, payload);
        } catch (err) {
          if (!(err instanceof StreamError)) throw err;
          const stream = this.streams.get(err.streamId);
          this.push(rstStreamFrame(err.streamId, err.code));
          if (stream !== undefined) this.closeStream(stream);
          // A refused or malformed request costs a header block's decoding: bounded like frames that carry nothing.
          this.countIdle();
        }
        if (this.ended) return;
      }
      if (at < buf.length) this.rest = Buffer.from(buf.subarray(at));
    } catch (err) {
      if (err instanceof ConnectionError) this.fail(err);
      else if (err instanceof HpackError) this.fail(new ConnectionError(ErrorCode.COMPRESSION_ERROR, 'header block does not decode'));
      else {
        this.fail(new ConnectionError(ErrorCode.INTERNAL_ERROR, 'internal error'));
        this.onError(err);
      }
    }
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.block !== undefined && type !== FrameType.CONTINUATION) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'header block interrupted');
    if (!this.settingsSeen && type !== FrameType.SETTINGS) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'the first frame must be SETTINGS');
    switch (type) {
      case FrameType.DATA:
        return this.onData(flags, streamId, payload);
      case FrameType.HEADERS:
        return this.onHeaders(flags, streamId, payload);
      case FrameType.CONTINUATION:
        return this.onContinuation(flags, streamId, payload);
      case FrameType.PRIORITY:
        if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) throw new StreamError(streamId, ErrorCode.FRAME_SIZE_ERROR, 'PRIORITY of the wrong size');
        return this.countIdle();
      case FrameType.RST_STREAM:
        return this.onReset(streamId, payload);
      case FrameType.SETTINGS:
        return this.onSettings(flags, streamId, payload);
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'a client cannot push');
      case FrameType.PING:
        return this.onPing(flags, streamId, payload);
      case FrameType.GOAWAY:
        if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (payload.length < 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY too short');
        this.peerGoaway = !this.goawaySent;
        this.goawaySent = true;
        this.acceptUpTo = this.lastStreamId;
        return this.endIfIdle();
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(streamId, payload);
      default:
        // Unknown frame types are ignored (RFC 9113 section 4.1).
        return this.countIdle();
    }
  }

  /** Frames that cost work and carry nothing: bounded per second. */
  private countIdle(): void {
    this.tick();
    this.idleFrames += 1;
    if (this.idleFrames > this.limits.maxIdleFramesPerSecond) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'too many frames without content');
  }

  private tick(): void {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.resets = 0;
      this.idleFrames = 0;
    }
  }

  /** Strips padding (PADDED flag) from a DATA or HEADERS payload. */
  private unpad(flags: number, payload: Buffer): Buffer {
    if ((flags & Flag.PADDED) === 0) return payload;
    if (payload.length < 1) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'padded frame without a pad length');
    const pad = payload[0]!;
    if (pad >= payload.length) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'padding longer than the frame');
    return payload.subarray(1, payload.length - pad);
  }

  private onData(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    if (streamId > this.lastStreamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on an idle stream');
    // Flow control counts the whole frame, padding included, on the connection whatever the stream's state.
    this.unacked += payload.length;
    if (this.unacked > this.limits.connectionWindow) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window exceeded');
    if (this.unacked >= this.limits.connectionWindow / 2) {
      this.push(windowUpdateFrame(0, this.unacked));
      this.unacked = 0;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined || stream.remoteEnded) {
      // A stream closed (reset, or answered and ended) may still have DATA in flight: dropped.
      if (stream !== undefined) throw new StreamError(streamId, ErrorCode.STREAM_CLOSED, 'DATA after END_STREAM');
      return;
    }
    const data = this.unpad(flags, payload);
    const end = (flags & Flag.END_STREAM) !== 0;
    if (data.length === 0 && !end) this.countIdle();
    stream.unacked += payload.length;
    if (stream.unacked > this.limits.streamWindow) throw new StreamError(streamId, ErrorCode.FLOW_CONTROL_ERROR, 'stream window exceeded');
    if (data.length > 0) stream.ondata?.(data);
    if (end) return this.remoteEnd(stream);
    if (!stream.paused && !stream.closed && stream.unacked >= this.limits.streamWindow / 2) this.resumed(stream);
  }

  private remoteEnd(stream: ServerStream): void {
    stream.remoteEnded = true;
    stream.onend?.();
    if (stream.writableEnded && !stream.closed && stream.pendingEnd === undefined && stream.queue.length === 0) this.closeStream(stream);
  }

  private onHeaders(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let fragment = this.unpad(flags, payload);
    if ((flags & Flag.PRIORITY) !== 0) {
      if (fragment.length < 5) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS priority fields missing');
      if ((fragment.readUInt32BE(0) & MAX_STREAM_ID) === streamId) throw new StreamError(streamId, ErrorCode.PROTOCOL_ERROR, 'a stream cannot depend on itself');
      fragment = fragment.subarray(5);
    }
    this.block = { streamId, endStream: (flags & Flag.END_STREAM) !== 0, parts: [fragment], size: fragment.length };
    this.checkBlockSize();
    if ((flags & Flag.END_HEADERS) !== 0) this.headerBlockDone();
  }

  private onContinuation(flags: number, streamId: number, payload: Buffer): void {
    const block = this.block;
    if (block === undefined || block.streamId !== streamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without HEADERS');
    if (payload.length === 0 && (flags & Flag.END_HEADERS) === 0) this.countIdle();
    block.parts.push(payload);
    block.size += payload.length;
    this.checkBlockSize();
    if ((flags & Flag.END_HEADERS) !== 0) this.headerBlockDone();
  }

  private checkBlockSize(): void {
    if (this.block!.size > this.limits.maxHeaderListSize * MAX_HEADER_BLOCK_FACTOR) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'header block too large');
  }

  private headerBlockDone(): void {
    const { streamId, endStream, parts } = this.block!;
    this.block = undefined;
    const decoded = this.decoder.decode(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    const existing = this.streams.get(streamId);
    if (existing !== undefined) {
      // Trailers of the request: they end it and carry nothing a unary call reads.
      if (!endStream || existing.remoteEnded) throw new StreamError(streamId, ErrorCode.PROTOCOL_ERROR, 'HEADERS in the middle of a request');
      return this.remoteEnd(existing);
    }
    if (streamId <= this.lastStreamId) {
      if (streamId % 2 === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'stream id not opened by the client');
      this.countIdle();
      return; // a stream already closed on our side: its late trailers are dropped.
    }
    if (streamId % 2 === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'even stream id from a client');
    this.lastStreamId = streamId;
    if (streamId > this.acceptUpTo) return;
    if (decoded.malformed !== undefined) throw new StreamError(streamId, ErrorCode.PROTOCOL_ERROR, decoded.malformed);
    let headers: IncomingHttpHeaders;
    if (decoded.tooLarge !== true) {
      const checked = requestHeaders(decoded.fields);
      if (typeof checked === 'string') throw new StreamError(streamId, ErrorCode.PROTOCOL_ERROR, checked);
      headers = checked;
    } else headers = {};
    if (this.streams.size >= this.limits.maxConcurrentStreams) throw new StreamError(streamId, ErrorCode.REFUSED_STREAM, 'too many concurrent streams');
    const stream = new ServerStream(streamId, headers, this, this.peerInitialWindow);
    this.streams.set(streamId, stream);
    if (decoded.tooLarge === true) {
      stream.remoteEnded = endStream;
      stream.respond([':status', '200', 'content-type', 'application/grpc', ...TOO_LARGE], true);
      stream.close();
      return;
    }
    this.onStream(stream);
    if (endStream && !stream.closed) this.remoteEnd(stream);
  }

  private onReset(streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM of the wrong size');
    if (streamId > this.lastStreamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on an idle stream');
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    this.tick();
    this.resets += 1;
    if (this.resets > this.limits.maxResetsPerSecond) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'too many streams reset');
    this.closeStream(stream);
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if ((flags & Flag.ACK) !== 0) {
      if (payload.length !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ack with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS of the wrong size');
    if (this.settingsSeen) this.countIdle();
    for (let at = 0; at < payload.length; at += 6) this.applySetting(payload.readUInt16BE(at), payload.readUInt32BE(at + 2));
    if (!this.settingsSeen) {
      this.settingsSeen = true;
      clearTimeout(this.handshakeTimer);
    }
    this.push(SETTINGS_ACK);
  }

  private applySetting(id: number, value: number): void {
    switch (id) {
      case Setting.ENABLE_PUSH:
        if (value > 1) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH must be 0 or 1');
        return;
      case Setting.INITIAL_WINDOW_SIZE: {
        if (value > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const stream of this.streams.values()) {
          stream.sendWindow += delta;
          if (stream.sendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'stream window above 2^31-1');
        }
        if (delta > 0) for (const stream of [...this.blocked]) this.flushData(stream);
        return;
      }
      case Setting.MAX_FRAME_SIZE:
        if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_FRAME_SIZE_LIMIT) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
        this.peerMaxFrameSize = value;
        return;
      default:
        // HEADER_TABLE_SIZE: answers use no dynamic table. MAX_CONCURRENT_STREAMS and
        // MAX_HEADER_LIST_SIZE bound what a server pushes or sends, which is one answer per stream.
        return;
    }
  }

  private onPing(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
    if (payload.length !== 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'PING of the wrong size');
    if ((flags & Flag.ACK) !== 0) {
      this.pingAcks.shift()?.();
      return;
    }
    this.countIdle();
    this.push(pingFrame(Buffer.from(payload), true));
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of the wrong size');
    const increment = payload.readUInt32BE(0) & MAX_WINDOW;
    if (streamId === 0) {
      if (increment === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
      for (const stream of [...this.blocked]) this.flushData(stream);
      return;
    }
    if (streamId > this.lastStreamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE on an idle stream');
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    if (increment === 0) throw new StreamError(streamId, ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) throw new StreamError(streamId, ErrorCode.FLOW_CONTROL_ERROR, 'stream window above 2^31-1');
    if (stream.queue.length > 0 || stream.pendingEnd !== undefined) this.flushData(stream);
  }
}
