import { createHmac, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import fc from 'fast-check';

/**
 * fast-check parameters: `base` runs by default so the suite stays seconds-long; FUZZ_RUNS raises
 * (or lowers) every property at once, FUZZ_SEED replays a failure.
 */
export function fuzzParams<T>(base: number): fc.Parameters<T> {
  const runs = Number(process.env.FUZZ_RUNS);
  const seed = Number(process.env.FUZZ_SEED);
  return {
    numRuns: Number.isInteger(runs) && runs > 0 ? runs : base,
    ...(Number.isInteger(seed) ? { seed } : {}),
    // Several properties talk to a real server; a shrink over hundreds of calls is enough.
    endOnFailure: false,
    maxSkipsPerRun: 1000,
  };
}

/** Mocha timeout for a property with `base` runs, grown with FUZZ_RUNS. */
export function fuzzTimeout(base: number, msPerRun: number): number {
  const runs = Number(process.env.FUZZ_RUNS);
  return 20_000 + (Number.isInteger(runs) && runs > 0 ? runs : base) * msPerRun;
}

/** Strings that have broken parsers, loggers, SQL and path handling before. */
export const NASTY_STRINGS: readonly string[] = Object.freeze([
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\u0000\u0000\u0000\u0000',
  '../../etc/passwd',
  '..\\..\\windows\\win.ini',
  '/dev/zero',
  "' OR '1'='1",
  "'; DROP TABLE identities; --",
  '" OR ""="',
  '%00',
  '%2e%2e%2f',
  '${jndi:ldap://127.0.0.1/x}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '\r\nX-Injected: 1',
  '\uFEFF',
  '\u202Eabc',
  '\uD800',
  '\uDFFF\uD800',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  'Ω≈ç√∫',
  '__proto__',
  'constructor',
  'null',
  'undefined',
  'NaN',
  '-1',
  '1e309',
  'A'.repeat(129),
  'a'.repeat(5000),
]);

/** Any string, biased towards the nasty ones, control characters and unicode. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 64 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 64 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }).map((s) => `${s}\u0000${s}`) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('a', '.', '/', '%', '\\', '\u0000', 'é'), minLength: 1000, maxLength: 3000 }) },
);

/** Numbers at the edges of what JSON and the claim checks handle. */
export const edgeNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(
    0, -0, -1, 1, 0.5, -0.5,
    2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, -(2 ** 53),
    Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON, 1e308, -1e308,
    Infinity, -Infinity, NaN,
  ),
  fc.double(),
  fc.integer(),
);

/** A JSON value nested `depth` levels deep (arrays or objects). */
export const nested = (depth: number, leaf: unknown = 1): unknown => {
  let value: unknown = leaf;
  for (let i = 0; i < depth; i += 1) value = i % 2 === 0 ? [value] : { a: value };
  return value;
};

/** Any JSON value, including deep nesting and wrong types for every claim. */
export const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  edgeNumber,
  fc.constantFrom(null, true, false, [], {}),
  fc.integer({ min: 50, max: 3000 }).map((d) => nested(d)),
  fc.jsonValue({ maxDepth: 4 }),
  fc.array(hostileString, { maxLength: 5 }),
  fc.dictionary(hostileString, hostileString, { maxKeys: 5 }),
);

const b64 = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

/** A compact JWS over arbitrary header and payload objects, signed with `key` (ES256/RS256/PS256 by alg). */
export function signedJws(header: Record<string, unknown>, payload: unknown, key: KeyObject, alg = 'ES256'): string {
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`;
  const hash = `sha${alg.slice(2)}`;
  const signature =
    alg.startsWith('ES')
      ? sign(hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      : alg.startsWith('PS')
        ? sign(hash, Buffer.from(input), { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 })
        : sign(hash, Buffer.from(input), key);
  return `${input}.${b64(signature)}`;
}

/** An HS* JWS keyed with `secret` (e.g. the public key PEM: the RS/HS confusion attack). */
export function hmacJws(header: Record<string, unknown>, payload: unknown, secret: string | Buffer, alg = 'HS256'): string {
  const input = `${b64(JSON.stringify({ ...header, alg }))}.${b64(JSON.stringify(payload))}`;
  return `${input}.${createHmac(`sha${alg.slice(2)}`, secret).update(input).digest('base64url')}`;
}

/** An unsigned JWS (`alg` none or a case variant of it). */
export function unsignedJws(header: Record<string, unknown>, payload: unknown, alg = 'none'): string {
  return `${b64(JSON.stringify({ ...header, alg }))}.${b64(JSON.stringify(payload))}.`;
}

/** Forms of a public key an attacker may try as an HMAC secret. */
export function publicKeyForms(publicKey: KeyObject): (string | Buffer)[] {
  const jwk = publicKey.export({ format: 'jwk' });
  return [
    publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicKey.export({ format: 'pem', type: 'spki' }).toString().trim(),
    publicKey.export({ format: 'der', type: 'spki' }),
    JSON.stringify(jwk),
    '',
  ];
}

/** An attacker's own keys: signatures from these must never be accepted. */
export const attackerKeys = (() => {
  let keys: { ec: KeyObject; rsa: KeyObject } | undefined;
  return () =>
    (keys ??= {
      ec: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
      rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
    });
})();

/** Random JWT-shaped text: segments of random base64url, JSON or raw text joined by dots. */
export const randomJwtText: fc.Arbitrary<string> = fc.oneof(
  fc.array(fc.oneof(fc.base64String({ maxLength: 200 }), hostileString, fc.jsonValue().map((v) => b64(JSON.stringify(v)))), { minLength: 1, maxLength: 6 }).map((parts) => parts.join('.')),
  fc.tuple(fc.jsonValue(), fc.jsonValue(), fc.uint8Array({ maxLength: 128 })).map(([h, p, s]) => `${b64(JSON.stringify(h))}.${b64(JSON.stringify(p))}.${b64(Buffer.from(s))}`),
  hostileString,
);

/** The kind of header `kid` values used in injection attempts. */
export const hostileKid: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.constantFrom('../../etc/passwd', '/dev/stdin', "x' UNION SELECT secret_hash FROM credentials --", 'file:///etc/passwd', 'http://127.0.0.1:1/jwks'),
  fc.integer({ min: 2000, max: 12000 }).map((n) => 'k'.repeat(n)),
  edgeNumber,
  fc.constantFrom(null, true, [], {}, ['a'], { $ne: '' }),
);

export const publicOf = (key: KeyObject): KeyObject => createPublicKey(key);

/** A varint as protobuf writes it. */
export function varint(n: number | bigint): Buffer {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Buffer.from(out);
}

export const tag = (field: number, wireType: number): Buffer => varint((field << 3) | wireType);

/** Bytes that are almost a message: the kinds of damage protobuf decoders have tripped on. */
export const malformedMessage = (valid: Buffer): fc.Arbitrary<Buffer> =>
  fc.oneof(
    fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b)),
    fc.integer({ min: 0, max: Math.max(0, valid.length - 1) }).map((n) => valid.subarray(0, n)),
    fc.tuple(fc.integer({ min: 0, max: Math.max(0, valid.length - 1) }), fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
      const copy = Buffer.from(valid);
      if (copy.length > 0) copy[i] = b;
      return copy;
    }),
    fc.tuple(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 64 })).map(([f, wt, rest]) =>
      Buffer.concat([valid, tag(f, wt), Buffer.from(rest)]),
    ),
    // Length-delimited field claiming far more bytes than follow, up to 2^64-1.
    fc.tuple(fc.integer({ min: 1, max: 6 }), fc.constantFrom(2n ** 31n, 2n ** 32n - 1n, 2n ** 53n, 2n ** 64n - 1n, 65_000n)).map(([f, len]) => Buffer.concat([tag(f, 2), varint(len), Buffer.from('abc')])),
    // A varint that never ends, and one longer than ten bytes.
    fc.integer({ min: 1, max: 64 }).map((n) => Buffer.concat([tag(1, 0), Buffer.alloc(n, 0xff)])),
    // Nested start-group tags (wire type 3) without end, and unbalanced end-groups.
    fc.integer({ min: 1, max: 20_000 }).map((n) => Buffer.concat(Array.from({ length: Math.min(n, 20_000) }, () => tag(9, 3)))),
    fc.integer({ min: 1, max: 100 }).map((n) => Buffer.concat(Array.from({ length: n }, () => tag(9, 4)))),
    // Field number 0 and the largest field number.
    fc.constantFrom(Buffer.from([0x00, 0x01]), Buffer.concat([varint((2 ** 29 - 1) * 8 + 2), varint(1), Buffer.from('x')])),
    // Strings that are not UTF-8 in every string field.
    fc.tuple(fc.integer({ min: 1, max: 6 }), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([f, bytes]) => Buffer.concat([tag(f, 2), varint(bytes.length), Buffer.from(bytes)])),
    // The same field repeated many times (last one wins in proto3).
    fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 2000 }), hostileString).map(([f, n, s]) => {
      const one = Buffer.concat([tag(f, 2), varint(Buffer.byteLength(s)), Buffer.from(s)]);
      return Buffer.concat(Array.from({ length: n }, () => one));
    }),
  );
