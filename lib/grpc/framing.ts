import zlib from 'node:zlib';
import { status } from '@grpc/grpc-js';

/**
 * gRPC's HTTP/2 framing, for the parts of the mesh that speak it over node:http2 directly (the
 * gateway's front and domain transports, the bench's load generator).
 */

/** The length-prefixed message: flag 0 (uncompressed), 4-byte big-endian length, bytes. */
export function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + bytes.length);
  writePrefix(out, bytes.length);
  out.set(bytes, 5);
  return out;
}

/** The 5 bytes before a message of `length` bytes, for a writer that sends both in one write. */
export function messagePrefix(length: number): Buffer {
  const out = Buffer.allocUnsafe(5);
  writePrefix(out, length);
  return out;
}

function writePrefix(out: Buffer, length: number): void {
  out[0] = 0;
  out.writeUInt32BE(length, 1);
}

/**
 * The one message of a unary call's body: its bytes, or the status to answer. Messages compressed
 * with gzip or deflate (flag 1 and `grpc-encoding`) are inflated, bounded by `maxBytes`.
 */
export function readMessage(body: Buffer, encoding: string | string[] | undefined, maxBytes: number): Buffer | { code: status; details: string } {
  if (body.length < 5) return { code: status.INTERNAL, details: 'request carries no complete gRPC message' };
  const length = body.readUInt32BE(1);
  if (length !== body.length - 5) return { code: status.INTERNAL, details: 'a unary request must carry exactly one gRPC message' };
  const payload = body.subarray(5);
  if (body[0] === 0) return payload;
  if (body[0] !== 1) return { code: status.INTERNAL, details: `invalid gRPC message flag ${body[0]}` };
  try {
    if (encoding === 'gzip') return zlib.gunzipSync(payload, { maxOutputLength: maxBytes });
    if (encoding === 'deflate') return zlib.inflateSync(payload, { maxOutputLength: maxBytes });
  } catch (err) {
    const large = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE';
    return large
      ? { code: status.RESOURCE_EXHAUSTED, details: `request larger than ${maxBytes} bytes once decompressed` }
      : { code: status.INTERNAL, details: `request message could not be decompressed (${String(encoding)})` };
  }
  return { code: status.UNIMPLEMENTED, details: `request compressed with an unsupported encoding: ${String(encoding)}` };
}

/** Takes length-prefixed messages off a stream's bytes, however the chunks split them. */
export class MessageReader {
  private held: Buffer | undefined;

  /** Calls `each` with every whole message `chunk` completes. */
  push(chunk: Buffer, each: (message: Buffer) => void): void {
    let buf = this.held === undefined ? chunk : Buffer.concat([this.held, chunk]);
    this.held = undefined;
    while (buf.length >= 5) {
      const length = buf.readUInt32BE(1);
      if (buf.length < 5 + length) break;
      each(buf.subarray(5, 5 + length));
      buf = buf.subarray(5 + length);
    }
    if (buf.length > 0) this.held = buf;
  }
}

/** `grpc-message` as grpc-js writes it. */
export const encodeStatusMessage = (details: string): string => encodeURI(details);

/** `grpc-message` as received: percent-decoded, or as it came when it does not decode. */
export function decodeStatusMessage(value: string | string[] | undefined): string {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return '';
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

const TIMEOUT_UNIT_MS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/** The absolute deadline a `grpc-timeout` header sets, undefined when absent or malformed. */
export function parseGrpcTimeout(value: string | string[] | undefined, now: number): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  return m === null ? undefined : now + Number(m[1]) * TIMEOUT_UNIT_MS[m[2]!]!;
}
