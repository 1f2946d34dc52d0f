import net from 'node:net';
import type { OutgoingHttpHeaders } from 'node:http2';
import { loopbackPort } from './load-generator.js';

/**
 * Unary gRPC calls over HTTP/2 written straight to a TCP socket: the bench's lean load generator.
 *
 * node:http2 costs a sender about as much CPU per call as the gateway spends forwarding it (a
 * stream object, its duplex machinery and the headers objects of every call), and on a machine
 * whose cores the sender shares with the mesh that CPU is taken from the services under test.
 * This client keeps per-call work to building one buffer and reading frame headers:
 *
 * - The request's header block is encoded once per connection, as HPACK literals that are never
 *   indexed (so it needs no encoder state), and only the stream id changes from call to call.
 * - Replies are read at the frame level. A header block is never decoded: a unary gRPC call
 *   succeeds with exactly one response message followed by trailers, and fails with a
 *   trailers-only reply or a reset stream. So a call counts as OK when its stream carried one
 *   complete, uncompressed message and then ended with a HEADERS frame; anything else is a
 *   failure. (Servers that send a message and then a non-OK status would be counted as OK; the
 *   servers the bench measures never do: grpc-js and the mesh send a message only with OK.)
 * - It honours the server's flow control and concurrency limits for what it sends, and grants the
 *   server a window large enough that replies never wait for one.
 *
 * 127.0.0.1 only; cleartext HTTP/2 with prior knowledge.
 */

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER = 9;

const enum Type {
  Data = 0x0,
  Headers = 0x1,
  RstStream = 0x3,
  Settings = 0x4,
  PushPromise = 0x5,
  Ping = 0x6,
  GoAway = 0x7,
  WindowUpdate = 0x8,
  Continuation = 0x9,
}

/** Frame flags (END_STREAM and ACK share a bit, on different frame types). */
const enum Flag {
  EndStream = 0x1,
  EndHeaders = 0x4,
  Padded = 0x8,
}
const ACK = 0x1;

/** The receive window granted to the server, per stream and for the connection. */
const RECEIVE_WINDOW = 0x3fff_ffff;
/** Defaults of RFC 9113 until the server's SETTINGS say otherwise. */
const DEFAULT_WINDOW = 65_535;
const DEFAULT_MAX_FRAME = 16_384;

interface Call {
  resolve: (ok: boolean) => void;
  /** Where the first failure descriptions go. */
  errors: string[];
  /** Bytes of the response body so far (gRPC message prefixes included). */
  bodyBytes: number;
  /** From the first five body bytes: the message's compressed flag and its length. */
  flag: number;
  length: number;
  /** A HEADERS frame that ends the stream arrived; done once its header block is complete. */
  ending: boolean;
}

function frameHeader(out: Buffer, at: number, length: number, type: number, flags: number, stream: number): void {
  out.writeUIntBE(length, at, 3);
  out[at + 3] = type;
  out[at + 4] = flags;
  out.writeUInt32BE(stream & 0x7fff_ffff, at + 5);
}

/** An HPACK integer with an n-bit prefix (RFC 7541 §5.1), the prefix byte's high bits set to `high`. */
function hpackInt(value: number, prefixBits: number, high: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [high | value];
  const out = [high | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** A string literal without Huffman coding. */
function hpackString(s: string): Buffer {
  const bytes = Buffer.from(s, 'latin1');
  return Buffer.concat([Buffer.from(hpackInt(bytes.length, 7, 0)), bytes]);
}

/** Static table indices (RFC 7541 Appendix A) of the names and fields a request uses. */
const STATIC = { authority: 1, methodPost: 3, path: 4, schemeHttp: 6, contentType: 31 } as const;

/** The header block of every call: indexed :method and :scheme, every other field a literal that is never indexed. */
export function requestHeaderBlock(authority: string, path: string, extra: OutgoingHttpHeaders): Buffer {
  const parts: Buffer[] = [Buffer.from([0x80 | STATIC.methodPost, 0x80 | STATIC.schemeHttp])];
  // Literal Header Field Never Indexed: 0001xxxx with a 4-bit name index, or 0x10 and a new name.
  const indexedName = (index: number, value: string): void => {
    parts.push(Buffer.from(hpackInt(index, 4, 0x10)), hpackString(value));
  };
  const newName = (name: string, value: string): void => {
    parts.push(Buffer.from([0x10]), hpackString(name), hpackString(value));
  };
  indexedName(STATIC.path, path);
  indexedName(STATIC.authority, authority);
  indexedName(STATIC.contentType, 'application/grpc');
  newName('te', 'trailers');
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined || name.startsWith(':')) continue;
    for (const v of Array.isArray(value) ? value : [value]) newName(name.toLowerCase(), String(v));
  }
  return Buffer.concat(parts);
}

/** One HTTP/2 connection carrying unary calls. */
class LeanConnection {
  private readonly socket: net.Socket;
  private readonly calls = new Map<number, Call>();
  /** Calls waiting for a stream slot or send window: their framed request and resolver. */
  private readonly waiting: { framed: Buffer; call: Call }[] = [];
  private nextStream = 1;
  private sendWindow = DEFAULT_WINDOW;
  private streamWindow = DEFAULT_WINDOW;
  private maxFrame = DEFAULT_MAX_FRAME;
  private maxStreams = Infinity;
  private pending: Buffer | undefined;
  /** Response bytes received since the connection window was last topped up. */
  private consumed = 0;
  private closedWith: string | undefined;
  readonly connected: Promise<void>;

  constructor(
    host: string,
    port: number,
    private readonly block: Buffer,
  ) {
    this.socket = net.connect({ host, port, noDelay: true });
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
    this.connected.catch(() => undefined);
    // Preface, SETTINGS (ENABLE_PUSH 0, INITIAL_WINDOW_SIZE), and the connection's window.
    const start = Buffer.alloc(PREFACE.length + FRAME_HEADER + 12 + FRAME_HEADER + 4);
    PREFACE.copy(start, 0);
    let at = PREFACE.length;
    frameHeader(start, at, 12, Type.Settings, 0, 0);
    start.writeUInt16BE(0x2, at + 9);
    start.writeUInt32BE(0, at + 11);
    start.writeUInt16BE(0x4, at + 15);
    start.writeUInt32BE(RECEIVE_WINDOW, at + 17);
    at += FRAME_HEADER + 12;
    frameHeader(start, at, 4, Type.WindowUpdate, 0, 0);
    start.writeUInt32BE(RECEIVE_WINDOW - DEFAULT_WINDOW, at + 9);
    this.socket.write(start);
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
    this.socket.on('error', (err) => this.close(`UNAVAILABLE ${err.message}`));
    this.socket.on('close', () => this.close('UNAVAILABLE connection closed'));
  }

  send(framed: Buffer, errors: string[]): Promise<boolean> {
    return new Promise((resolve) => {
      const call: Call = { resolve, errors, bodyBytes: 0, flag: 0, length: 0, ending: false };
      if (this.closedWith !== undefined) return this.fail(call, this.closedWith);
      if (framed.length > this.maxFrame) return this.fail(call, `request of ${framed.length} bytes is larger than one frame`);
      if (this.waiting.length > 0 || !this.canSend(framed.length)) this.waiting.push({ framed, call });
      else this.start(framed, call);
    });
  }

  private canSend(bytes: number): boolean {
    return this.calls.size < this.maxStreams && bytes <= this.sendWindow && bytes <= this.streamWindow;
  }

  private start(framed: Buffer, call: Call): void {
    const id = this.nextStream;
    this.nextStream += 2;
    this.calls.set(id, call);
    this.sendWindow -= framed.length;
    const out = Buffer.allocUnsafe(FRAME_HEADER * 2 + this.block.length + framed.length);
    frameHeader(out, 0, this.block.length, Type.Headers, Flag.EndHeaders, id);
    this.block.copy(out, FRAME_HEADER);
    const data = FRAME_HEADER + this.block.length;
    frameHeader(out, data, framed.length, Type.Data, Flag.EndStream, id);
    framed.copy(out, data + FRAME_HEADER);
    this.socket.write(out);
  }

  private drain(): void {
    while (this.waiting.length > 0 && this.canSend(this.waiting[0]!.framed.length)) {
      const w = this.waiting.shift()!;
      this.start(w.framed, w.call);
    }
  }

  private fail(call: Call, what: string): void {
    if (call.errors.length < 5) call.errors.push(what);
    call.resolve(false);
  }

  private finish(id: number, call: Call): void {
    this.calls.delete(id);
    if (call.bodyBytes >= 5 && call.flag === 0 && call.bodyBytes === 5 + call.length) call.resolve(true);
    else if (call.bodyBytes === 0) this.fail(call, 'call failed: trailers-only reply (no response message)');
    else this.fail(call, `reply carried ${call.bodyBytes} body bytes, not one uncompressed message`);
    this.drain();
  }

  private read(chunk: Buffer): void {
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    let at = 0;
    while (buf.length - at >= FRAME_HEADER) {
      const length = buf.readUIntBE(at, 3);
      if (buf.length - at < FRAME_HEADER + length) break;
      this.frame(buf[at + 3]!, buf[at + 4]!, buf.readUInt32BE(at + 5) & 0x7fff_ffff, buf, at + FRAME_HEADER, length);
      at += FRAME_HEADER + length;
    }
    this.pending = at === buf.length ? undefined : Buffer.from(buf.subarray(at));
    if (this.consumed >= RECEIVE_WINDOW / 2) {
      const update = Buffer.allocUnsafe(FRAME_HEADER + 4);
      frameHeader(update, 0, 4, Type.WindowUpdate, 0, 0);
      update.writeUInt32BE(this.consumed, FRAME_HEADER);
      this.consumed = 0;
      this.socket.write(update);
    }
  }

  private frame(type: number, flags: number, id: number, buf: Buffer, at: number, length: number): void {
    switch (type) {
      case Type.Data: {
        this.consumed += length;
        const call = this.calls.get(id);
        if (call === undefined) return;
        let from = at;
        let to = at + length;
        if (flags & Flag.Padded) {
          to -= buf[at]!;
          from += 1;
        }
        let k = from;
        for (; k < to && call.bodyBytes < 5; k++, call.bodyBytes++) {
          if (call.bodyBytes === 0) call.flag = buf[k]!;
          else call.length = call.length * 256 + buf[k]!;
        }
        call.bodyBytes += to - k;
        // A unary reply ends with trailers, never with DATA; ending here means no status came.
        if (flags & Flag.EndStream) {
          this.calls.delete(id);
          this.fail(call, 'reply ended without trailers');
          this.drain();
        }
        return;
      }
      case Type.Headers:
      case Type.Continuation: {
        const call = this.calls.get(id);
        if (call === undefined) return;
        if (type === Type.Headers && flags & Flag.EndStream) call.ending = true;
        if (call.ending && flags & Flag.EndHeaders) this.finish(id, call);
        return;
      }
      case Type.RstStream: {
        const call = this.calls.get(id);
        if (call === undefined) return;
        this.calls.delete(id);
        this.fail(call, `stream reset with HTTP/2 error ${buf.readUInt32BE(at)}`);
        this.drain();
        return;
      }
      case Type.Settings: {
        if (flags & ACK) return;
        for (let k = at; k + 6 <= at + length; k += 6) {
          const value = buf.readUInt32BE(k + 2);
          switch (buf.readUInt16BE(k)) {
            case 0x3:
              this.maxStreams = value;
              break;
            case 0x4:
              this.streamWindow = value;
              break;
            case 0x5:
              this.maxFrame = value;
              break;
          }
        }
        const ack = Buffer.alloc(FRAME_HEADER);
        frameHeader(ack, 0, 0, Type.Settings, ACK, 0);
        this.socket.write(ack);
        this.drain();
        return;
      }
      case Type.Ping: {
        if (flags & ACK) return;
        const pong = Buffer.allocUnsafe(FRAME_HEADER + 8);
        frameHeader(pong, 0, 8, Type.Ping, ACK, 0);
        buf.copy(pong, FRAME_HEADER, at, at + 8);
        this.socket.write(pong);
        return;
      }
      case Type.WindowUpdate: {
        if (id === 0) this.sendWindow += buf.readUInt32BE(at) & 0x7fff_ffff;
        this.drain();
        return;
      }
      case Type.GoAway: {
        const last = buf.readUInt32BE(at) & 0x7fff_ffff;
        const what = `UNAVAILABLE server went away (HTTP/2 error ${buf.readUInt32BE(at + 4)})`;
        this.closedWith ??= what;
        for (const [sid, call] of this.calls) {
          if (sid <= last) continue;
          this.calls.delete(sid);
          this.fail(call, what);
        }
        return;
      }
      case Type.PushPromise:
        // Push is disabled in our SETTINGS; a server that pushes anyway breaks the protocol.
        this.close('PROTOCOL_ERROR server pushed a stream');
        return;
      default:
        return;
    }
  }

  private close(what: string): void {
    this.closedWith ??= what;
    for (const call of this.calls.values()) this.fail(call, what);
    this.calls.clear();
    for (const w of this.waiting.splice(0)) this.fail(w.call, what);
    this.socket.destroy();
  }

  end(): void {
    this.close('UNAVAILABLE client closed');
  }
}

/**
 * The lean sender with the same surface as the node:http2 one (`RawUnaryClient`): several
 * connections, round robin, `send(framed, errors)` resolving true on OK.
 */
export class LeanUnaryClient {
  private readonly connections: LeanConnection[];
  private next = 0;

  constructor(address: string, path: string, channels = 2, headers: OutgoingHttpHeaders = {}, timeoutMs = 5000) {
    const port = loopbackPort(address);
    const block = requestHeaderBlock(address, path, { 'grpc-timeout': `${timeoutMs}m`, ...headers });
    this.connections = Array.from({ length: channels }, () => new LeanConnection('127.0.0.1', port, block));
  }

  send(framed: Buffer, errors: string[]): Promise<boolean> {
    const c = this.connections[this.next]!;
    this.next = (this.next + 1) % this.connections.length;
    return c.send(framed, errors);
  }

  async ready(timeoutMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('connect timed out')), timeoutMs)));
    try {
      await Promise.race([Promise.all(this.connections.map((c) => c.connected)), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    for (const c of this.connections) c.end();
  }
}
