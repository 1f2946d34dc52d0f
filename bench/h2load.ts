/**
 * h2load (nghttp2's load generator, Debian package `nghttp2-client`) as the bench's independent
 * generator: gRPC unary over h2c with a framed request body, or HTTP/1.1 form posts (`--h1`).
 * h2load counts HTTP 200 only, so a gRPC target's success is checked on a sampled call that sends
 * the very same bytes and reads its `grpc-status` trailer ({@link sampleGrpcStatus}).
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { parseH2loadLog, type H2loadLogEntry } from './h2load-log.js';

/** Where h2load is, or undefined when it is not installed. */
export function h2loadPath(): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin').split(path.delimiter)) {
    const p = path.join(dir, 'h2load');
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

/** Where h2load is; throws with {@link H2LOAD_HINT} when it is not installed. */
export function requireH2load(): string {
  const bin = h2loadPath();
  if (bin === undefined) throw new Error(H2LOAD_HINT);
  return bin;
}

/** How to get h2load when it is missing. */
export const H2LOAD_HINT = "h2load is missing: install Debian's nghttp2-client (apt-get update && apt-get install -y nghttp2-client), or run make bench as root to have it installed";

/** Installs nghttp2-client with apt-get when h2load is absent and we are root; the path or undefined. */
export function ensureH2load(log: (line: string) => void): string | undefined {
  const found = h2loadPath();
  if (found !== undefined) return found;
  if (process.getuid?.() !== 0) {
    log(H2LOAD_HINT);
    return undefined;
  }
  log('installing nghttp2-client for h2load (apt-get)');
  try {
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore', timeout: 300_000 });
    execFileSync('apt-get', ['install', '-y', '-qq', 'nghttp2-client'], { stdio: 'ignore', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch (err) {
    log(`apt-get install nghttp2-client failed: ${(err as Error).message}; ${H2LOAD_HINT}`);
  }
  return h2loadPath();
}

/** A gRPC message as it travels in a DATA frame: uncompressed flag, 4-byte big-endian length, bytes. */
export function grpcFrame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/** The message inside one framed body; throws when the body is not exactly one uncompressed frame. */
export function grpcUnframe(body: Buffer): Buffer {
  if (body.length < 5 || body[0] !== 0) throw new Error('not an uncompressed gRPC frame');
  const len = body.readUInt32BE(1);
  if (body.length !== 5 + len) throw new Error(`frame says ${len} bytes, body holds ${body.length - 5}`);
  return body.subarray(5);
}

/** One h2load target. */
export interface H2loadTarget {
  /** Full URL: http://127.0.0.1:port/package.Service/Method, or https://… for `h1`. */
  url: string;
  body: Buffer;
  headers: Record<string, string>;
  /** HTTP/1.1 (`--h1`): one request in flight per connection. */
  h1?: boolean;
}

/** Load shape: 64 in flight = 2 connections × 32 streams for h2; 64 connections for h1. */
export interface H2loadShape {
  inFlight: number;
  connections: number;
  durationS: number;
  warmupS: number;
  /** Offered calls/s over all connections (h2load --rps per connection); closed loop when absent. */
  rate?: number;
  /**
   * With `rate`: how the calls leave. 'bursts' (the default) runs `connections` clients for
   * `durationS` after `warmupS`; h2load's `--rps` timer fires at most every 10 ms, so each client
   * sends rate / connections / 100 calls at once. 'even' spreads them: {@link evenPacing}.
   */
  pacing?: 'bursts' | 'even';
  /** A fixed number of calls (h2load -n) instead of a timed run: every call is counted, none cut off at the end. */
  requests?: number;
  /** Log every call of the measured window (h2load --log-file) and return them. */
  log?: boolean;
}

export interface H2loadResult {
  /** Calls per second over the measured window (h2load's own figure). */
  rps: number;
  done: number;
  succeeded: number;
  failed: number;
  errored: number;
  /** HTTP 2xx responses. */
  status2xx: number;
  /** Mean request time, ms. */
  meanMs: number;
  /** With `shape.log`: every call started in the measured window (none from the warm-up). */
  calls?: H2loadLogEntry[];
}

/** h2load's gRPC headers for a unary call. */
export const GRPC_HEADERS: Record<string, string> = { 'content-type': 'application/grpc', te: 'trailers' };

/**
 * Even pacing at `rate` calls/s: h2load's `--rps` timer fires every max(10 ms, 1 / rps) per client,
 * so `rate / 100` clients (rounded up) with one call per tick each, the clients opened 1 / rate
 * apart (`-r 1 --rate-period`), send one call every 1 / rate s in turn. h2load refuses `-D` beside
 * `-r`, so the run is a count of calls (`-n`) covering warm-up and window, and the window is cut
 * from the per-call log by start time.
 */
export function evenPacing(rate: number): { connections: number; perConnection: number; periodMs: number } {
  if (!Number.isInteger(rate) || rate <= 0) throw new Error(`even pacing needs a whole positive rate, got ${rate}`);
  const connections = Math.ceil(rate / 100);
  if (rate % connections !== 0) throw new Error(`even pacing: ${rate}/s does not split evenly over ${connections} connections`);
  return { connections, perConnection: rate / connections, periodMs: 1000 / rate };
}

/** The rate when `shape` runs evenly paced ({@link evenPacing}; gRPC (h2) targets only), else undefined. */
function evenRate(t: H2loadTarget, shape: H2loadShape): number | undefined {
  if (shape.rate === undefined || shape.pacing !== 'even') return undefined;
  if (t.h1 === true) throw new Error('even pacing is for h2 targets: h2load --h1 has one call in flight per connection');
  return shape.rate;
}

export function h2loadArgs(t: H2loadTarget, shape: H2loadShape, bodyFile: string, logFile?: string): string[] {
  const streams = String(Math.ceil(shape.inFlight / shape.connections));
  let args: string[];
  const rate = evenRate(t, shape);
  if (rate !== undefined) {
    const p = evenPacing(rate);
    const calls = Math.round(rate * (shape.warmupS + shape.durationS));
    args = ['-n', String(calls), '-d', bodyFile, '-c', String(p.connections), '-m', streams, '-t', '1', '-r', '1', '--rate-period', `${p.periodMs}ms`, '--rps', String(p.perConnection)];
  } else {
    args = shape.requests !== undefined
      ? ['-n', String(shape.requests), '-d', bodyFile]
      : ['-D', String(shape.durationS), '--warm-up-time', String(shape.warmupS), '-d', bodyFile];
    if (t.h1) args.push('--h1', '-c', String(shape.inFlight), '-m', '1');
    else args.push('-c', String(shape.connections), '-m', streams);
    // Enough client threads for the connections, never more than the cores.
    args.push('-t', String(Math.min(os.cpus().length, t.h1 ? 2 : shape.connections)));
    if (shape.rate !== undefined) args.push('--rps', String(shape.rate / (t.h1 ? shape.inFlight : shape.connections)));
  }
  if (logFile !== undefined) args.push(`--log-file=${logFile}`);
  for (const [k, v] of Object.entries(t.headers)) args.push('-H', `${k}: ${v}`);
  args.push(t.url);
  return args;
}

/** Parses h2load's summary. */
export function parseH2load(out: string): H2loadResult {
  const num = (re: RegExp): number => {
    const m = re.exec(out);
    if (m === null) throw new Error(`h2load output without ${re.source}:\n${out}`);
    return Number(m[1]);
  };
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
  if (req === null) throw new Error(`h2load output without a requests line:\n${out}`);
  return {
    rps: num(/finished in [\d.]+m?s, ([\d.]+) req\/s/),
    done: Number(req[3]),
    succeeded: Number(req[4]),
    failed: Number(req[5]),
    errored: Number(req[6]),
    status2xx: num(/status codes: (\d+) 2xx/),
    meanMs: h2loadTimeMs(/time for request:\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1]),
  };
}

function h2loadTimeMs(v: string | undefined): number {
  if (v === undefined) return NaN;
  const m = /^([\d.]+)(us|ms|s)$/.exec(v);
  if (m === null) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

/** One h2load run against a target. */
export async function runH2load(bin: string, t: H2loadTarget, shape: H2loadShape): Promise<H2loadResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-h2load-'));
  const bodyFile = path.join(dir, 'body');
  const logFile = shape.log ? path.join(dir, 'log') : undefined;
  fs.writeFileSync(bodyFile, t.body);
  // h2load logs the calls closed after the warm-up, some of them started before its end: each
  // client thread says when its warm-up is over, and calls started before the last such line are
  // dropped (with a few calls of the window, never a warm-up call).
  const even = evenRate(t, shape) !== undefined;
  // An evenly paced run has no warm-up phase of h2load's own (see evenPacing): its window starts
  // warmupS after h2load does.
  let mainFromUs = even ? Date.now() * 1000 + shape.warmupS * 1e6 : 0;
  try {
    const out = await new Promise<string>((resolve, reject) => {
      const child = execFile(bin, h2loadArgs(t, shape, bodyFile, logFile), { timeout: (shape.durationS + shape.warmupS + 30) * 1000, maxBuffer: 1 << 22 }, (err, stdout, stderr) =>
        err ? reject(new Error(`h2load failed: ${err.message}\n${stderr}`)) : resolve(stdout),
      );
      child.stdout?.on('data', (chunk: Buffer) => {
        if (!even && chunk.includes('Warm-up phase is over')) mainFromUs = Date.now() * 1000;
      });
    });
    const r = parseH2load(out);
    if (logFile !== undefined) r.calls = parseH2loadLog(fs.readFileSync(logFile, 'utf8'), mainFromUs);
    return r;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** What a sampled gRPC call answered. */
export interface GrpcSample {
  httpStatus: number;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  /** The response message (unframed). */
  message: Buffer;
}

/**
 * Sends h2load's exact body and headers once over h2c with node:http2 and reads the answer and
 * its trailers, since h2load itself counts HTTP 200 and cannot see `grpc-status`.
 */
export function sampleGrpcStatus(t: H2loadTarget, timeoutMs = 10_000): Promise<GrpcSample> {
  const url = new URL(t.url);
  return new Promise((resolve, reject) => {
    const session = http2.connect(url.origin);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no answer from ${t.url} in ${timeoutMs} ms`));
    }, timeoutMs);
    session.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    const req = session.request({ ':method': 'POST', ':path': url.pathname, ...t.headers });
    let httpStatus = 0;
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      httpStatus = Number(h[':status']);
      // A trailers-only answer carries grpc-status in the headers.
      if (h['grpc-status'] !== undefined) trailers = h;
    });
    req.on('trailers', (h) => (trailers = h));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      clearTimeout(timer);
      session.close();
      const body = Buffer.concat(chunks);
      const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
      resolve({ httpStatus, grpcStatus: one(trailers['grpc-status']), grpcMessage: one(trailers['grpc-message']), message: body.length >= 5 ? grpcUnframe(body) : body });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      session.destroy();
      reject(err);
    });
    req.end(t.body);
  });
}
