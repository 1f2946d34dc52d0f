/**
 * Whether bytes decode as a protobuf message whose fields are all `string` or `bytes`, with the
 * answer the generated (ts-proto over @bufbuild/protobuf's BinaryReader) `decode` gives, without
 * building the message: no strings, no objects, no reader.
 *
 * For such a message the generated decoder reads a known field with the right tag as a
 * length-delimited value and skips anything else, so whether it succeeds does not depend on which
 * fields the message has: it fails on a varint past ten bytes, a length or field running past the
 * end, a wire type it cannot skip (6, 7, an end-group inside a group of another field), a bad tag
 * inside a group, and groups nested over 100 deep; it stops early, successfully, at a zero tag or
 * an end-group tag at the top level. Strings are decoded leniently (invalid UTF-8 is replaced, not
 * refused), so their bytes are never looked at. A message with a varint, fixed or nested-message
 * field needs its decoder instead.
 */
export function decodesAsStringMessage(buf: Uint8Array): boolean {
  const len = buf.length;
  let pos = 0;
  while (pos < len) {
    pos = varint32(buf, pos, len);
    if (pos < 0) return false;
    const tag = value;
    if ((tag & 7) === 4 || tag === 0) return true;
    pos = skip(buf, pos, len, tag & 7, undefined, 100);
    if (pos < 0) return false;
  }
  return true;
}

/** The value of the last {@link varint32} read (a module slot, so reading allocates nothing). */
let value = 0;

/** Reads a varint as BinaryReader.uint32 does; the position after it, or -1 where the reader throws. */
function varint32(buf: Uint8Array, start: number, len: number): number {
  let pos = start;
  let result = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    const b = buf[pos++] ?? 0;
    result |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) {
      value = result;
      return pos > len ? -1 : pos;
    }
  }
  let b = buf[pos++] ?? 0;
  result |= (b & 0x0f) << 28;
  for (let read = 5; (b & 0x80) !== 0 && read < 10; read++) b = buf[pos++] ?? 0;
  if ((b & 0x80) !== 0 || pos > len) return -1;
  value = result >>> 0;
  return pos;
}

/** Skips a field as BinaryReader.skip does; the position after it, or -1 where the reader throws. */
function skip(buf: Uint8Array, start: number, len: number, wireType: number, fieldNo: number | undefined, depth: number): number {
  let pos = start;
  switch (wireType) {
    case 0:
      while (((buf[pos++] ?? 0) & 0x80) !== 0);
      break;
    case 1:
      pos += 8;
      break;
    case 5:
      pos += 4;
      break;
    case 2:
      pos = varint32(buf, pos, len);
      if (pos < 0) return -1;
      pos += value;
      break;
    case 3:
      if (depth <= 0) return -1;
      for (;;) {
        const tagStart = pos;
        pos = varint32(buf, pos, len);
        if (pos < 0) return -1;
        const read = pos - tagStart;
        if (read > 5 || (read === 5 && buf[pos - 1]! > 0x0f)) return -1;
        const fn = value >>> 3;
        const wt = value & 7;
        if (fn <= 0 || wt > 5) return -1;
        if (wt === 4) {
          if (fieldNo !== undefined && fn !== fieldNo) return -1;
          break;
        }
        pos = skip(buf, pos, len, wt, fn, depth - 1);
        if (pos < 0) return -1;
      }
      break;
    default:
      return -1;
  }
  return pos > len ? -1 : pos;
}
