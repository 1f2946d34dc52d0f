/**
 * The Huffman code of HPACK (RFC 7541 Appendix B) and a decoder that reads four bits at a time
 * through a table built once. The code is canonical, so the code lengths alone define it.
 */

/** Code length of each symbol 0–255 and EOS (256), in order (RFC 7541 Appendix B). */
export const CODE_LENGTHS: readonly number[] = (
  '13,23,28,28,28,28,28,28,28,24,30,28,28,30,28,28,28,28,28,28,28,28,30,28,28,28,28,28,28,28,28,28,' +
  '6,10,10,12,13,6,8,11,10,10,8,11,8,6,6,6,5,5,5,6,6,6,6,6,6,6,7,8,15,6,12,10,' +
  '13,6,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,8,7,8,13,19,13,14,6,' +
  '15,5,6,5,6,5,6,6,6,5,7,7,6,6,6,5,6,7,6,5,5,6,7,7,7,7,7,15,11,14,13,28,' +
  '20,22,20,20,22,22,22,23,22,23,23,23,23,23,24,23,24,24,22,23,24,23,23,23,23,21,22,23,22,23,23,24,' +
  '22,21,20,22,22,23,23,21,23,22,22,24,21,22,23,23,21,21,22,21,23,22,23,23,20,22,22,22,23,22,22,23,' +
  '26,26,20,19,22,23,22,25,26,26,26,27,27,26,24,25,19,21,26,27,27,26,27,24,21,21,26,26,28,27,27,27,' +
  '20,24,20,21,22,21,21,23,22,22,25,25,24,24,26,23,26,27,26,26,27,27,27,27,27,28,27,27,27,27,27,26,30'
)
  .split(',')
  .map(Number);

export const EOS = 256;

/** The canonical code of each symbol from its length: shorter first, then by symbol. */
export function canonicalCodes(lengths: readonly number[]): number[] {
  const order = lengths.map((_, s) => s).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const codes = new Array<number>(lengths.length).fill(0);
  let code = 0;
  let prev = lengths[order[0]!]!;
  order.forEach((s, i) => {
    const len = lengths[s]!;
    if (i > 0) code = (code + 1) * 2 ** (len - prev);
    prev = len;
    codes[s] = code;
  });
  return codes;
}

/** Thrown for bytes that are no valid Huffman-coded string (an EOS, or padding that is not 1s or longer than 7 bits). */
export class HuffmanError extends Error {}

/**
 * The decoder's tables: for each of the tree's 256 inner nodes and each 4-bit input, the node
 * reached (`NEXT`) and the symbol completed on the way (`EMIT`, -1 for none, EOS for an error);
 * `ACCEPT` marks the nodes a string may end at (the root, or at most 7 one-bits into the tree).
 */
const { NEXT, EMIT, ACCEPT } = buildTables();

function buildTables(): { NEXT: Uint8Array; EMIT: Int16Array; ACCEPT: Uint8Array } {
  const codes = canonicalCodes(CODE_LENGTHS);
  // Tree: inner nodes 0..255 (0 the root); a child is an inner node id, or -(symbol + 1) for a leaf.
  const children: Array<[number, number]> = [[0, 0]];
  const depth = [0];
  const ones = [true];
  for (let s = 0; s <= EOS; s += 1) {
    let node = 0;
    const len = CODE_LENGTHS[s]!;
    for (let b = len - 1; b >= 0; b -= 1) {
      const bit = Math.floor(codes[s]! / 2 ** b) % 2;
      if (b === 0) {
        children[node]![bit] = -(s + 1);
        break;
      }
      // 0 (the root) is never a child: it marks a child not made yet.
      let next = children[node]![bit]!;
      if (next === 0) {
        next = children.length;
        children.push([0, 0]);
        depth.push(depth[node]! + 1);
        ones.push(ones[node]! && bit === 1);
        children[node]![bit] = next;
      }
      node = next;
    }
  }
  const nodes = children.length;
  const NEXT = new Uint8Array(nodes * 16);
  const EMIT = new Int16Array(nodes * 16).fill(-1);
  const ACCEPT = new Uint8Array(nodes);
  for (let n = 0; n < nodes; n += 1) {
    ACCEPT[n] = ones[n] && depth[n]! <= 7 ? 1 : 0;
    for (let nibble = 0; nibble < 16; nibble += 1) {
      let node = n;
      for (let b = 3; b >= 0; b -= 1) {
        const child = children[node]![(nibble >> b) & 1]!;
        if (child < 0) {
          const sym = -child - 1;
          EMIT[n * 16 + nibble] = sym;
          node = 0;
          if (sym === EOS) break;
        } else node = child;
      }
      NEXT[n * 16 + nibble] = node;
    }
  }
  return { NEXT, EMIT, ACCEPT };
}

/** Scratch space for decoded strings; a Huffman string decodes to at most 8/5 of its length. */
let scratch = Buffer.allocUnsafe(4096);

/** Decodes `src[start, end)` to a latin1 string; throws HuffmanError on invalid input. */
export function huffmanDecode(src: Buffer, start: number, end: number): string {
  const max = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < max) scratch = Buffer.allocUnsafe(Math.max(max, scratch.length * 2));
  const out = scratch;
  let state = 0;
  let o = 0;
  for (let i = start; i < end; i += 1) {
    const byte = src[i]!;
    let t = state * 16 + (byte >> 4);
    let sym = EMIT[t]!;
    if (sym >= 0) {
      if (sym === EOS) throw new HuffmanError('EOS in a Huffman-coded string');
      out[o++] = sym;
    }
    state = NEXT[t]!;
    t = state * 16 + (byte & 0x0f);
    sym = EMIT[t]!;
    if (sym >= 0) {
      if (sym === EOS) throw new HuffmanError('EOS in a Huffman-coded string');
      out[o++] = sym;
    }
    state = NEXT[t]!;
  }
  if (ACCEPT[state] !== 1) throw new HuffmanError('Huffman padding is not a prefix of EOS of at most 7 bits');
  return out.toString('latin1', 0, o);
}
