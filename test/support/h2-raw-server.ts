/**
 * A raw HTTP/2 server for tests over plain `net`: it reads the client preface, answers SETTINGS,
 * and collects each stream's request header block (HEADERS plus CONTINUATION payloads, padding
 * and priority fields removed) in arrival order. `reply` writes a HEADERS frame on a stream.
 */
import net from 'node:net';
import { CLIENT_PREFACE, Flag, frame, FRAME_HEADER_BYTES, FrameType, SETTINGS_ACK, settingsFrame } from '../../lib/http2/frames.js';

export interface RawBlock {
  streamId: number;
  block: Buffer;
}

export class RawH2Server {
  /** Header blocks received, in order. */
  readonly blocks: RawBlock[] = [];
  private readonly sockets = new Set<net.Socket>();
  private readonly waiters: Array<() => void> = [];

  private constructor(
    private readonly server: net.Server,
    private readonly onBlock: (b: RawBlock, socket: net.Socket) => void,
    private readonly settings: ReadonlyArray<readonly [number, number]>,
  ) {}

  /**
   * Listens on 127.0.0.1 (an ephemeral port) and sends `settings` in its SETTINGS frame;
   * `onBlock` runs for every complete header block.
   */
  static async listen(onBlock: (b: RawBlock, socket: net.Socket) => void = () => undefined, settings: ReadonlyArray<readonly [number, number]> = []): Promise<RawH2Server> {
    const server = net.createServer((socket) => self.accept(socket));
    const self = new RawH2Server(server, onBlock, settings);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return self;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Waits until `count` blocks arrived (or fails after `ms`). */
  async waitForBlocks(count: number, ms = 10_000): Promise<RawBlock[]> {
    const until = Date.now() + ms;
    while (this.blocks.length < count) {
      if (Date.now() > until) throw new Error(`${this.blocks.length} of ${count} header blocks arrived`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, Math.max(1, until - Date.now())).unref();
      });
    }
    return this.blocks.slice(0, count);
  }

  /** Sends `block` as one HEADERS frame on `streamId` (END_HEADERS, and END_STREAM if asked). */
  static reply(socket: net.Socket, streamId: number, block: Buffer, endStream: boolean): void {
    socket.write(frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId, block));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write(settingsFrame(this.settings));
    let rest: Buffer = Buffer.alloc(0);
    let prefaceRead = false;
    let pending: { streamId: number; parts: Buffer[] } | undefined;
    socket.on('data', (chunk: Buffer) => {
      rest = rest.length === 0 ? chunk : Buffer.concat([rest, chunk]);
      if (!prefaceRead) {
        if (rest.length < CLIENT_PREFACE.length) return;
        if (!rest.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE)) {
          socket.destroy();
          return;
        }
        rest = rest.subarray(CLIENT_PREFACE.length);
        prefaceRead = true;
      }
      while (rest.length >= FRAME_HEADER_BYTES) {
        const length = rest.readUIntBE(0, 3);
        if (rest.length < FRAME_HEADER_BYTES + length) break;
        const type = rest[3]!;
        const flags = rest[4]!;
        const streamId = rest.readUInt32BE(5) & 0x7fffffff;
        let payload = rest.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length);
        rest = rest.subarray(FRAME_HEADER_BYTES + length);
        if (type === FrameType.SETTINGS && (flags & Flag.ACK) === 0) socket.write(SETTINGS_ACK);
        if (type === FrameType.HEADERS) {
          let padding = 0;
          if ((flags & Flag.PADDED) !== 0) {
            padding = payload[0]!;
            payload = payload.subarray(1);
          }
          if ((flags & Flag.PRIORITY) !== 0) payload = payload.subarray(5);
          pending = { streamId, parts: [payload.subarray(0, payload.length - padding)] };
        } else if (type === FrameType.CONTINUATION && pending !== undefined) pending.parts.push(payload);
        else continue;
        if ((flags & Flag.END_HEADERS) !== 0 && pending !== undefined) {
          const b = { streamId: pending.streamId, block: Buffer.concat(pending.parts) };
          pending = undefined;
          this.blocks.push(b);
          this.onBlock(b, socket);
          for (const w of this.waiters.splice(0)) w();
        }
      }
    });
  }
}
