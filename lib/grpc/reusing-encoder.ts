import { BinaryWriter } from '@bufbuild/protobuf/wire';

/** A message type as ts-proto generates it: encodes into a writer it is given. */
export interface MessageEncoding<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
}

/** A writer whose last message was larger than this is dropped rather than kept for the next. */
const KEEP_WRITER_BYTES = 64 * 1024;

/**
 * Encodes messages of one type through one kept `BinaryWriter`.
 *
 * ts-proto's `X.encode(m).finish()` makes a new writer per message, whose buffer starts at 128
 * bytes and doubles as it fills, so a 700-byte token answer allocates five ArrayBuffers, each
 * tracked and freed by V8 on the next scavenge. On the token path (every relayed call, every
 * answer) that was most of the ArrayBuffers a call allocates. A kept writer has already grown: a
 * message costs one ArrayBuffer, the copy `finish()` returns, which the Buffer given back wraps.
 *
 * For messages on hot paths only: encoding is synchronous, so one writer per type never serves
 * two messages at once; a writer left mid-message by a throw is reset before the error goes on.
 */
export function reusingEncoder<T>(type: MessageEncoding<T>): (message: T) => Buffer {
  let writer = new BinaryWriter();
  return (message) => {
    let bytes: Uint8Array;
    try {
      bytes = type.encode(message, writer).finish();
    } catch (err) {
      writer = new BinaryWriter();
      throw err;
    }
    if (bytes.byteLength > KEEP_WRITER_BYTES) writer = new BinaryWriter();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}
