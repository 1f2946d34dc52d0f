/**
 * HPACK (RFC 7541): a strict decoder with its dynamic table, and an encoder of literals that keeps
 * no state (answers never index, so the peer's table needs no bookkeeping here).
 */
import { huffmanDecode, HuffmanError } from './huffman.js';

/** A compression error: the connection must end with GOAWAY COMPRESSION_ERROR. */
export class HpackError extends Error {}

/** The static table (RFC 7541 Appendix A), index 1 first; as [name, value] pairs. */
export const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

const STATIC_COUNT = STATIC_TABLE.length;
/** Names and values of the static table by index (1 to 61; 0 unused). */
const STATIC_NAMES = ['', ...STATIC_TABLE.map((e) => e[0])];
const STATIC_VALUES = ['', ...STATIC_TABLE.map((e) => e[1])];
const EMPTY = Buffer.alloc(0);

/** What one header block decoded to. */
export interface DecodedBlock {
  /** [name0, value0, name1, value1, ...] in wire order. */
  fields: string[];
  /** Why a field is not valid HTTP/2 (RFC 9113 section 8.2.1): a stream error; the table stays in sync. */
  malformed?: string;
  /** The header list is larger than allowed; decoding went on so the table stays in sync, `fields` is cut short. */
  tooLarge?: boolean;
}

/** Per field, RFC 9113 counts name + value + 32 octets; so does the table (RFC 7541 section 4.1). */
const ENTRY_OVERHEAD = 32;
/**
 * Field names: lowercase token characters (RFC 9110 section 5.1), with a leading ':' for
 * pseudo-headers; RFC 9113 section 8.2.1 lets the token rule plus "no uppercase" stand for its own.
 */
const VALID_NAME = /^:?[a-z0-9!#$%&'*+\-.^_`|~]+$/;
/** Field values: no NUL, CR or LF anywhere, no whitespace at either end. */
const INVALID_VALUE = /[\0\r\n]|^[ \t]|[ \t]$/;

function fieldProblem(name: string, value: string): string | undefined {
  if (!VALID_NAME.test(name)) return 'a header field name is not lowercase token characters';
  if (value !== '' && INVALID_VALUE.test(value)) return `header field ${name} has a value with NUL, CR, LF or surrounding whitespace`;
  return undefined;
}

/** Largest integer a representation may carry here (a table index, a string length, a table size). */
const MAX_INT = 2 ** 31 - 1;
/** Continuation octets an integer may have: five carry 35 bits, more than MAX_INT needs. */
const MAX_INT_OCTETS = 5;

/**
 * The decoder of one connection's request header blocks. Its dynamic table holds at most
 * `maxTableSize` octets (the SETTINGS_HEADER_TABLE_SIZE advertised, 4,096 by default).
 */
export class HpackDecoder {
  private readonly maxTableSize: number;
  private readonly maxHeaderListSize: number;
  /** Table size the peer set with its last size update. */
  private limit: number;
  private size = 0;
  /** Ring of dynamic entries; `head` is where the next one goes; `count` entries, newest at head - 1. */
  private readonly names: string[];
  private readonly values: string[];
  /** Whether the entry is a valid HTTP/2 field (checked once, when it was added). */
  private readonly valid: boolean[];
  private readonly mask: number;
  private head = 0;
  private count = 0;
  private pos = 0;
  private src: Buffer = EMPTY;
  /** The field read last by `entry` or `literal`: name, value, and whether it is a valid HTTP/2 field. */
  private name = '';
  private value = '';
  private ok = true;

  constructor(opts: { maxTableSize: number; maxHeaderListSize: number }) {
    this.maxTableSize = opts.maxTableSize;
    this.maxHeaderListSize = opts.maxHeaderListSize;
    this.limit = opts.maxTableSize;
    let cap = 1;
    while (cap < Math.floor(opts.maxTableSize / ENTRY_OVERHEAD) + 1) cap *= 2;
    this.names = new Array<string>(cap).fill('');
    this.values = new Array<string>(cap).fill('');
    this.valid = new Array<boolean>(cap).fill(true);
    this.mask = cap - 1;
  }

  /** Dynamic entries, newest first, for tests: [name, value] and the table's size in octets. */
  table(): { entries: Array<[string, string]>; size: number } {
    const entries: Array<[string, string]> = [];
    for (let i = 1; i <= this.count; i += 1) {
      const at = (this.head - i) & this.mask;
      entries.push([this.names[at]!, this.values[at]!]);
    }
    return { entries, size: this.size };
  }

  /** Decodes one complete header block; throws HpackError on a compression error. */
  decode(block: Buffer): DecodedBlock {
    this.src = block;
    this.pos = 0;
    const fields: string[] = [];
    let listSize = 0;
    let tooLarge = false;
    let malformed: string | undefined;
    let fieldSeen = false;
    try {
      while (this.pos < block.length) {
        const b = block[this.pos]!;
        if (b >= 0x80) {
          const index = this.integer(7);
          if (index === 0) throw new HpackError('indexed field with index 0');
          this.entry(index);
        } else if (b >= 0x40) {
          this.literal(6);
          this.add(this.name, this.value, this.ok);
        } else if (b >= 0x20) {
          if (fieldSeen) throw new HpackError('dynamic table size update after a field');
          const size = this.integer(5);
          if (size > this.maxTableSize) throw new HpackError(`dynamic table size update to ${size}, above the ${this.maxTableSize} allowed`);
          this.limit = size;
          this.evict(0);
          continue;
        } else {
          // Literal without indexing (0000) or never indexed (0001): the same here.
          this.literal(4);
        }
        const name = this.name;
        const value = this.value;
        fieldSeen = true;
        listSize += name.length + value.length + ENTRY_OVERHEAD;
        if (listSize > this.maxHeaderListSize) tooLarge = true;
        if (!this.ok && malformed === undefined) malformed = fieldProblem(name, value);
        if (!tooLarge) fields.push(name, value);
      }
    } catch (err) {
      if (err instanceof HuffmanError) throw new HpackError(err.message);
      throw err;
    } finally {
      this.src = EMPTY;
      this.name = '';
      this.value = '';
    }
    const out: DecodedBlock = { fields: tooLarge ? [] : fields };
    if (malformed !== undefined) out.malformed = malformed;
    if (tooLarge) out.tooLarge = true;
    return out;
  }

  /** An integer with an N-bit prefix (RFC 7541 section 5.1): at most MAX_INT_OCTETS continuation octets and MAX_INT. */
  private integer(prefixBits: number): number {
    const src = this.src;
    const max = (1 << prefixBits) - 1;
    let value = src[this.pos++]! & max;
    if (value < max) return value;
    const last = Math.min(src.length, this.pos + MAX_INT_OCTETS);
    let factor = 1;
    while (this.pos < last) {
      const b = src[this.pos++]!;
      value += (b & 0x7f) * factor;
      if (value > MAX_INT) throw new HpackError('integer too large');
      if ((b & 0x80) === 0) return value;
      factor *= 128;
    }
    throw new HpackError(this.pos >= src.length ? 'integer past the end of the block' : 'integer with too many continuation octets');
  }

  /** A string literal (RFC 7541 section 5.2), Huffman-coded or not, as latin1. */
  private string(): string {
    if (this.pos >= this.src.length) throw new HpackError('string past the end of the block');
    const huffman = (this.src[this.pos]! & 0x80) !== 0;
    const length = this.integer(7);
    const start = this.pos;
    const end = start + length;
    if (end > this.src.length) throw new HpackError('string longer than the block');
    this.pos = end;
    return huffman ? huffmanDecode(this.src, start, end) : this.src.toString('latin1', start, end);
  }

  /** A literal field with an N-bit name index prefix, its name from the tables or spelled out: into name, value, ok. */
  private literal(prefixBits: number): void {
    const index = this.integer(prefixBits);
    let name: string;
    if (index === 0) name = this.string();
    else {
      this.entry(index);
      name = this.name;
    }
    const value = this.string();
    this.name = name;
    this.value = value;
    this.ok = fieldProblem(name, value) === undefined;
  }

  /** Entry `index` of the static then dynamic table into name, value and ok (whether it was found valid). */
  private entry(index: number): void {
    if (index <= STATIC_COUNT) {
      this.name = STATIC_NAMES[index]!;
      this.value = STATIC_VALUES[index]!;
      this.ok = true;
      return;
    }
    const d = index - STATIC_COUNT;
    if (d > this.count) throw new HpackError(`index ${index} is past the end of the table`);
    const at = (this.head - d) & this.mask;
    this.name = this.names[at]!;
    this.value = this.values[at]!;
    this.ok = this.valid[at]!;
  }

  /** Adds an entry (RFC 7541 section 4.4): older ones are evicted to make room; one larger than the table empties it. */
  private add(name: string, value: string, ok: boolean): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.limit) {
      this.evict(this.limit);
      return;
    }
    this.evict(size);
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.valid[this.head] = ok;
    this.head = (this.head + 1) & this.mask;
    this.count += 1;
    this.size += size;
  }

  /** Evicts the oldest entries until `room` more octets fit within the limit. */
  private evict(room: number): void {
    while (this.count > 0 && this.size + room > this.limit) {
      const at = (this.head - this.count) & this.mask;
      this.size -= this.names[at]!.length + this.values[at]!.length + ENTRY_OVERHEAD;
      this.names[at] = '';
      this.values[at] = '';
      this.count -= 1;
    }
  }
}

/** Per static-table name: its first index, and the index of each name and value pair with a value. */
const STATIC_BY_NAME = new Map<string, { index: number; full: Map<string, number> }>();
STATIC_TABLE.forEach(([name, value], i) => {
  let entry = STATIC_BY_NAME.get(name);
  if (entry === undefined) STATIC_BY_NAME.set(name, (entry = { index: i + 1, full: new Map() }));
  if (value !== '') entry.full.set(value, i + 1);
});

/** Writes a string's octets (latin1) at `at`; returns the new position. */
function writeLatin1(out: Buffer, at: number, s: string): number {
  const length = s.length;
  // Short strings are cheaper copied here than through Buffer#write.
  if (length > 32) return at + out.write(s, at, 'latin1');
  for (let i = 0; i < length; i += 1) out[at + i] = s.charCodeAt(i);
  return at + length;
}

/** Writes an integer with an N-bit prefix whose high bits are `first`; returns the new position. */
function writeInteger(out: Buffer, at: number, first: number, prefixBits: number, value: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out[at] = first | value;
    return at + 1;
  }
  out[at++] = first | max;
  let rest = value - max;
  while (rest >= 0x80) {
    out[at++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 128);
  }
  out[at] = rest;
  return at + 1;
}

/**
 * Encodes fields ([name, value, ...]) without touching the peer's dynamic table: a static entry
 * where name and value match one, else a literal without indexing, its name by static index
 * where there is one; strings as they are (no Huffman). Names and values are written as latin1
 * and not checked: the caller passes lowercase names and values valid in HTTP/2 (a character
 * above U+00FF would be cut to its low octet).
 */
export function encodeFields(fields: readonly string[]): Buffer {
  let bound = 0;
  for (let i = 0; i < fields.length; i += 1) bound += fields[i]!.length + 6;
  const out = Buffer.allocUnsafe(bound + 1);
  let at = 0;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    const known = STATIC_BY_NAME.get(name);
    if (known !== undefined) {
      const full = known.full.get(value);
      if (full !== undefined) {
        at = writeInteger(out, at, 0x80, 7, full);
        continue;
      }
      at = writeInteger(out, at, 0x00, 4, known.index);
    } else {
      out[at++] = 0x00;
      at = writeInteger(out, at, 0x00, 7, name.length);
      at = writeLatin1(out, at, name);
    }
    at = writeInteger(out, at, 0x00, 7, value.length);
    at = writeLatin1(out, at, value);
  }
  return out.subarray(0, at);
}
