import { randomFillSync } from 'node:crypto';

/**
 * Most characters of a client id held inline in a table slot (one-byte characters, four a word):
 * 36, a UUID, which is what fits in a 64-byte slot beside the hash, tenant, flags and times. A
 * multiple of 4. Longer ids, and ids with wider characters, are compared as strings.
 */
export const INLINE_CHARS = 36;
export const INLINE_WORDS = INLINE_CHARS / 4;

const rotl = (x: number, b: number): number => (x << b) | (x >>> (32 - b));

/**
 * Hashes cache keys (a tenant number and a client id) with HalfSipHash-1-3 under a random key, so
 * a caller cannot choose client ids that collide in the table: any caller can make a region cache
 * a negative answer for an id of its choosing. Neither string is concatenated or copied: the
 * client id is packed into {@link words}, four one-byte characters a word, which the table keeps
 * and compares inline when the id is short and one-byte ({@link inline}); other ids are packed two
 * characters a word for hashing only, and the table compares them as strings.
 */
export class KeyHasher {
  /**
   * The messages of the last key hashed: the tenant number, the packed client id from index 1
   * ({@link wordCount} words), then a word of its length and packing.
   */
  words = new Int32Array(INLINE_WORDS + 2);
  /** How many words the last client id packed into. */
  wordCount = 0;
  /** Whether the last client id is held inline (then `words` from index 1 is what the table stores). */
  inline = false;
  private readonly k0: number;
  private readonly k1: number;

  /** @param key two 32-bit words; random unless given (tests). */
  constructor(key: Int32Array = randomFillSync(new Int32Array(2))) {
    this.k0 = key[0]! | 0;
    this.k1 = key[1]! | 0;
  }

  /** Hashes a key, leaving the packed client id in {@link words}. Never returns 0 (an empty slot). */
  hash(tenantNo: number, clientId: string): number {
    const tag = this.pack(clientId);
    const words = this.words;
    words[0] = tenantNo;
    words[this.wordCount + 1] = tag;
    const messages = this.wordCount + 2;
    let v0 = this.k0;
    let v1 = this.k1;
    let v2 = 0x6c796765 ^ this.k0;
    let v3 = 0x74656462 ^ this.k1;
    // One round a message, then three more: HalfSipHash-1-3.
    for (let i = 0; i < messages + 3; i += 1) {
      const m = i < messages ? words[i]! : 0;
      if (i === messages) v2 ^= 0xff;
      v3 ^= m;
      v0 = (v0 + v1) | 0;
      v1 = rotl(v1, 5) ^ v0;
      v0 = rotl(v0, 16);
      v2 = (v2 + v3) | 0;
      v3 = rotl(v3, 8) ^ v2;
      v0 = (v0 + v3) | 0;
      v3 = rotl(v3, 7) ^ v0;
      v2 = (v2 + v1) | 0;
      v1 = rotl(v1, 13) ^ v2;
      v2 = rotl(v2, 16);
      v0 ^= m;
    }
    const h = v1 ^ v3;
    return h === 0 ? 1 : h;
  }

  /** Packs the client id into `words` from index 1; returns a word of its length and packing. */
  private pack(clientId: string): number {
    const length = clientId.length;
    if (length <= INLINE_CHARS && this.packNarrow(clientId)) {
      this.inline = true;
      return length << 1;
    }
    this.inline = false;
    this.wordCount = (length + 1) >> 1;
    if (this.words.length < this.wordCount + 2) this.words = new Int32Array(Math.max(this.wordCount + 2, this.words.length * 2));
    const words = this.words;
    for (let i = 0; i < length; i += 2) words[1 + (i >> 1)] = clientId.charCodeAt(i) | (i + 1 < length ? clientId.charCodeAt(i + 1) << 16 : 0);
    return (length << 1) | 1;
  }

  /** Packs four one-byte characters a word; false when a character needs two bytes. */
  private packNarrow(clientId: string): boolean {
    const words = this.words;
    const length = clientId.length;
    let word = 0;
    for (let i = 0; i < length; i += 1) {
      const c = clientId.charCodeAt(i);
      if (c > 0xff) return false;
      word |= c << ((i & 3) << 3);
      if ((i & 3) === 3) {
        words[1 + (i >> 2)] = word;
        word = 0;
      }
    }
    if ((length & 3) !== 0) words[1 + (length >> 2)] = word;
    this.wordCount = (length + 3) >> 2;
    return true;
  }
}
