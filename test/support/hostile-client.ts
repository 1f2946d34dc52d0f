import http2 from 'node:http2';
import zlib from 'node:zlib';
import { frame } from '../../lib/grpc/framing.js';

/** One hostile gRPC call: the body and headers an attacker sends, and what it is meant to test. */
export interface HostileCall {
  name: string;
  path?: string;
  headers?: http2.OutgoingHttpHeaders;
  body: Buffer;
  /** Whether the answer must be INVALID_ARGUMENT with `oauth-error: invalid_request`. */
  invalidRequest: boolean;
}

/** What came back: the gRPC status and OAuth error, or how the stream ended without one. */
export interface HostileAnswer {
  name: string;
  grpcStatus?: string;
  oauthError?: string;
  httpStatus?: number;
  ms: number;
}

const ACQUIRE = '/authmesh.token.v1.TokenService/AcquireToken';

/** A deterministic byte source (a bad request must fail the same way every run). */
function bytes(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i += 1) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * The attacks of an anonymous caller on a public gRPC port: undecodable protobuf, wrong wire
 * types, lying length prefixes, truncated frames, compressed-flag lies, unknown methods and huge
 * metadata. Each is a request no fault domain could answer, so none may count against one.
 */
export function hostileCalls(): HostileCall[] {
  const header = (flag: number, length: number): Buffer => {
    const b = Buffer.alloc(5);
    b[0] = flag;
    b.writeUInt32BE(length, 1);
    return b;
  };
  return [
    { name: 'ff ff ff ff', body: frame(Buffer.from([0xff, 0xff, 0xff, 0xff])), invalidRequest: true },
    // Field 1 as a length-delimited string that claims 2^28 bytes.
    { name: 'string longer than the message', body: frame(Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x01, 0x41])), invalidRequest: true },
    { name: 'truncated varint', body: frame(Buffer.from([0x08])), invalidRequest: true },
    { name: 'wire type 7 (none such)', body: frame(Buffer.from([0x0f, 0x01])), invalidRequest: true },
    ...[1, 2, 3, 4, 5].map((seed) => ({ name: `random bytes #${seed}`, body: frame(Buffer.concat([Buffer.from([0xff]), bytes(40, seed)])), invalidRequest: true })),
    // Known fields with the wrong wire type decode as unknown fields: a request missing its fields.
    { name: 'wrong wire types', body: frame(Buffer.from([0x08, 0x01, 0x15, 1, 2, 3, 4, 0x19, 1, 2, 3, 4, 5, 6, 7, 8])), invalidRequest: true },
    { name: 'length prefix 2 GiB, 10 bytes sent', body: Buffer.concat([header(0, 0x7fffffff), Buffer.alloc(10)]), invalidRequest: true },
    { name: 'length prefix short of the body', body: Buffer.concat([header(0, 2), Buffer.alloc(10)]), invalidRequest: true },
    { name: 'truncated frame header', body: Buffer.from([0, 0, 0]), invalidRequest: true },
    { name: 'empty body', body: Buffer.alloc(0), invalidRequest: true },
    { name: 'compressed flag, no encoding', body: Buffer.concat([header(1, 4), Buffer.from('abcd')]), invalidRequest: false },
    { name: 'gzip encoding, bytes not gzip', headers: { 'grpc-encoding': 'gzip' }, body: Buffer.concat([header(1, 4), Buffer.from('abcd')]), invalidRequest: true },
    { name: 'gzip of undecodable bytes', headers: { 'grpc-encoding': 'gzip' }, body: compressed(Buffer.from([0xff, 0xff, 0xff, 0xff])), invalidRequest: true },
    { name: 'flag 9', body: Buffer.concat([header(9, 1), Buffer.from([8])]), invalidRequest: true },
    { name: 'unknown method', path: '/authmesh.token.v1.TokenService/Forge', body: frame(Buffer.alloc(0)), invalidRequest: false },
    { name: 'unknown service', path: '/evil.Service/Do', body: frame(Buffer.from([0xff])), invalidRequest: false },
    { name: 'huge metadata', headers: { 'x-junk': 'j'.repeat(60_000) }, body: frame(Buffer.from([0xff, 0xff])), invalidRequest: false },
    { name: 'many metadata keys', headers: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`x-k${i}`, 'v'.repeat(100)])), body: frame(Buffer.from([0xff, 0xff])), invalidRequest: false },
  ];
}

function compressed(message: Buffer): Buffer {
  const z = zlib.gzipSync(message);
  const b = Buffer.alloc(5);
  b[0] = 1;
  b.writeUInt32BE(z.length, 1);
  return Buffer.concat([b, z]);
}

/** Sends one hostile call on `session` and reads how it ended (never rejects). */
export function sendHostile(session: http2.ClientHttp2Session, call: HostileCall): Promise<HostileAnswer> {
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    let answer: HostileAnswer = { name: call.name, ms: 0 };
    const take = (h: http2.IncomingHttpHeaders): void => {
      if (typeof h[':status'] === 'number') answer.httpStatus = h[':status'];
      if (typeof h['grpc-status'] === 'string') answer.grpcStatus = h['grpc-status'];
      if (typeof h['oauth-error'] === 'string') answer.oauthError = h['oauth-error'];
    };
    let s: http2.ClientHttp2Stream;
    try {
      s = session.request({ ':method': 'POST', ':path': call.path ?? ACQUIRE, 'content-type': 'application/grpc', te: 'trailers', ...call.headers });
    } catch {
      resolve({ ...answer, ms: Number(process.hrtime.bigint() - started) / 1e6 });
      return;
    }
    s.on('response', take);
    s.on('trailers', take);
    s.on('data', () => undefined);
    s.on('error', () => undefined);
    s.on('close', () => {
      answer = { ...answer, ms: Number(process.hrtime.bigint() - started) / 1e6 };
      resolve(answer);
    });
    s.end(call.body);
  });
}

/** Runs every hostile call `rounds` times, `parallel` at once, on fresh connections. */
export async function attack(address: string, rounds: number, parallel = 4): Promise<HostileAnswer[]> {
  const calls = hostileCalls();
  const out: HostileAnswer[] = [];
  const sessions = Array.from({ length: parallel }, () => {
    const s = http2.connect(`http://${address}`);
    s.on('error', () => undefined);
    return s;
  });
  try {
    for (let r = 0; r < rounds; r += 1) {
      for (let i = 0; i < calls.length; i += parallel) {
        const batch = calls.slice(i, i + parallel);
        out.push(...(await Promise.all(batch.map((c, j) => sendHostile(live(sessions, j, address), c)))));
      }
    }
  } finally {
    for (const s of sessions) s.close();
  }
  return out;
}

/** The session at `j`, replaced when the server closed it (huge metadata may end a connection). */
function live(sessions: http2.ClientHttp2Session[], j: number, address: string): http2.ClientHttp2Session {
  const s = sessions[j]!;
  if (!s.closed && !s.destroyed) return s;
  const fresh = http2.connect(`http://${address}`);
  fresh.on('error', () => undefined);
  sessions[j] = fresh;
  return fresh;
}

/** p50 and p99 of the given latencies, ms. */
export function percentiles(ms: readonly number[]): { p50: number; p99: number } {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99) };
}
