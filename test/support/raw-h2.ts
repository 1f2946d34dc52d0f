/** A raw HTTP/2 client for tests: sends hand-made frames and reads every frame the server sends back. */
import net from 'node:net';
import { CLIENT_PREFACE, FRAME_HEADER_BYTES, frame, FrameType, settingsFrame } from '../../lib/http2/frames.js';
import { HpackDecoder } from '../../lib/http2/hpack.js';

export interface RawFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** A connection that records what the server sends and when it closes. */
export class RawH2 {
  readonly frames: RawFrame[] = [];
  closed = false;
  private rest = Buffer.alloc(0);
  private readonly waiters: Array<() => void> = [];
  private readonly decoder = new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: 1 << 20 });

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.rest = Buffer.concat([this.rest, chunk]);
      while (this.rest.length >= FRAME_HEADER_BYTES) {
        const length = this.rest.readUIntBE(0, 3);
        if (this.rest.length < FRAME_HEADER_BYTES + length) break;
        this.frames.push({ type: this.rest[3]!, flags: this.rest[4]!, streamId: this.rest.readUInt32BE(5) & 0x7fffffff, payload: this.rest.subarray(9, 9 + length) });
        this.rest = this.rest.subarray(FRAME_HEADER_BYTES + length);
      }
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** Connects to `port` on 127.0.0.1; with `handshake` (default) sends the preface and an empty SETTINGS. */
  static async connect(port: number, handshake = true, settings: ReadonlyArray<readonly [number, number]> = []): Promise<RawH2> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawH2(socket);
    if (handshake) c.send(CLIENT_PREFACE, settingsFrame(settings));
    return c;
  }

  send(...bytes: Buffer[]): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.concat(bytes));
  }

  sendFrame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): void {
    this.send(frame(type, flags, streamId, payload));
  }

  /** Waits until a received frame matches (returns it), or fails after `ms` with what was seen. */
  async waitFor(match: (f: RawFrame) => boolean, what: string, ms = 5000): Promise<RawFrame> {
    const until = Date.now() + ms;
    for (;;) {
      const found = this.frames.find(match);
      if (found !== undefined) return found;
      if (this.closed || Date.now() > until) throw new Error(`no ${what}; closed=${this.closed}; frames: ${this.describe()}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, Math.max(1, until - Date.now())).unref();
      });
    }
  }

  /** Waits until the server closed the connection. */
  async waitClosed(ms = 5000): Promise<void> {
    const until = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > until) throw new Error(`connection still open; frames: ${this.describe()}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, Math.max(1, until - Date.now())).unref();
      });
    }
  }

  /** The GOAWAY the server sent: last stream id and error code. */
  async goaway(): Promise<{ lastStreamId: number; code: number; debug: string }> {
    const f = await this.waitFor((x) => x.type === FrameType.GOAWAY, 'GOAWAY');
    return { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4), debug: f.payload.subarray(8).toString('utf8') };
  }

  /** The error code of the RST_STREAM the server sent on `streamId`. */
  async reset(streamId: number): Promise<number> {
    const f = await this.waitFor((x) => x.type === FrameType.RST_STREAM && x.streamId === streamId, `RST_STREAM on stream ${streamId}`);
    return f.payload.readUInt32BE(0);
  }

  /** Decodes a HEADERS frame's block (no padding or priority: the server sends neither) as { name: value }. */
  headersOf(f: RawFrame): Record<string, string> {
    const fields = this.decoder.decode(f.payload).fields;
    const out: Record<string, string> = {};
    for (let i = 0; i < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!;
    return out;
  }

  close(): void {
    this.socket.destroy();
  }

  private describe(): string {
    return this.frames.map((f) => `${f.type}/${f.flags}/${f.streamId}/${f.payload.length}`).join(' ');
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
