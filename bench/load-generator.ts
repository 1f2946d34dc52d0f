import http2, { type ClientHttp2Session } from 'node:http2';
import { status, type Metadata } from '@grpc/grpc-js';
import { LatencyHistogram, type LatencySummary } from './histogram.js';

/** One request: resolves true on success, false on a failed call; never rejects. */
export type SendOnce = (i: number) => Promise<boolean>;

/** What one load run measured. */
export interface LoadResult {
  mode: 'closed' | 'open';
  /** Concurrency (closed loop) or target rate per second (open loop). */
  load: number;
  durationMs: number;
  sent: number;
  ok: number;
  failed: number;
  /** Completed successful calls per second over the measured window. */
  throughput: number;
  latency: LatencySummary;
  /** First few failure descriptions. */
  errors: string[];
}

export interface ClosedLoopOptions {
  concurrency: number;
  durationMs: number;
  /** Untimed warm-up before the measured window. Default 0. */
  warmupMs?: number;
  /** Hard cap on calls in all. Default 2,000,000. */
  maxRequests?: number;
}

export interface OpenLoopOptions {
  /** Calls started per second. */
  rate: number;
  durationMs: number;
  warmupMs?: number;
  /** Most calls in flight; calls that would exceed it count as failed. Default 2,000. */
  maxInFlight?: number;
  /** Called with the ms since the measured window started and each latency (for windowed percentiles). */
  onSample?: (atMs: number, latencyMs: number, ok: boolean) => void;
  /** Called once when the measured window starts. */
  onStart?: () => void;
}

const nowMs = (): number => performance.now();

/**
 * Closed loop: `concurrency` callers each send the next call as soon as the last one answered.
 * Measures the throughput the system sustains; bounded in time and count.
 */
export async function closedLoop(send: SendOnce, opts: ClosedLoopOptions, errors: string[] = []): Promise<LoadResult> {
  const max = opts.maxRequests ?? 2_000_000;
  const hist = new LatencyHistogram();
  let i = 0;
  let ok = 0;
  let failed = 0;
  let measuring = false;
  const warmupEnd = nowMs() + (opts.warmupMs ?? 0);
  const end = warmupEnd + opts.durationMs;
  let windowStart = warmupEnd;
  const worker = async (): Promise<void> => {
    for (;;) {
      const t = nowMs();
      if (t >= end || i >= max) return;
      if (!measuring && t >= warmupEnd) {
        measuring = true;
        windowStart = t;
      }
      const started = t;
      const good = await send(i++);
      const done = nowMs();
      if (started >= windowStart && measuring) {
        if (good) {
          ok += 1;
          hist.recordMs(done - started);
        } else failed += 1;
      } else if (!good) failed += 1;
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  const durationMs = Math.max(1, Math.min(nowMs(), end) - windowStart);
  return { mode: 'closed', load: opts.concurrency, durationMs, sent: i, ok, failed, throughput: (ok / durationMs) * 1000, latency: hist.summary(), errors: errors.slice(0, 5) };
}

/**
 * Open loop: calls start on a fixed schedule whatever the answers, and each latency is measured
 * from the time the call was due (so a stall shows up in the percentiles instead of slowing the
 * schedule down: no coordinated omission). Bounded in time, count and calls in flight.
 */
export async function openLoop(send: SendOnce, opts: OpenLoopOptions, errors: string[] = []): Promise<LoadResult> {
  const maxInFlight = opts.maxInFlight ?? 2000;
  const hist = new LatencyHistogram();
  const interval = 1000 / opts.rate;
  const warmup = opts.warmupMs ?? 0;
  let inFlight = 0;
  let ok = 0;
  let failed = 0;
  let sent = 0;
  let i = 0;
  const begin = nowMs();
  const windowStart = begin + warmup;
  const end = windowStart + opts.durationMs;
  let started = false;
  // Calls in flight are counted, not held: keeping every call's promise alive until the run ends
  // (or in batches of thousands) made each of them outlive the young generation, so the load
  // generator's own scavenges copied and promoted them and paused it for milliseconds.
  let drained: (() => void) | undefined;
  const settled = (): void => {
    inFlight -= 1;
    if (inFlight === 0) drained?.();
  };
  let next = begin;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const t = nowMs();
      if (!started && t >= windowStart) {
        started = true;
        opts.onStart?.();
      }
      while (next <= t && next < end) {
        const due = next;
        next += interval;
        const measured = due >= windowStart;
        if (inFlight >= maxInFlight) {
          if (measured) failed += 1;
          if (errors.length < 5) errors.push('too many calls in flight');
          continue;
        }
        inFlight += 1;
        if (measured) sent += 1;
        void send(i++).then((good) => {
          const done = nowMs();
          settled();
          if (!measured) return;
          if (good) {
            ok += 1;
            hist.recordMs(done - due);
          } else failed += 1;
          opts.onSample?.(due - windowStart, done - due, good);
        });
      }
      if (next >= end) resolve();
      else setTimeout(tick, Math.max(0, Math.min(2, next - nowMs())));
    };
    tick();
  });
  if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
  const durationMs = opts.durationMs;
  return { mode: 'open', load: opts.rate, durationMs, sent, ok, failed, throughput: (ok / durationMs) * 1000, latency: hist.summary(), errors: errors.slice(0, 5) };
}

/**
 * Unary gRPC calls framed by hand over node:http2 on several connections (round robin), with raw
 * request bytes: a lean load generator, so the CPU it shares with the servers on this machine goes
 * to sending calls, not to a general client's per-call layers. Counts a call as OK only when the
 * reply's grpc-status is 0.
 */
export class RawUnaryClient {
  private readonly sessions: ClientHttp2Session[];
  private next = 0;

  constructor(
    address: string,
    private readonly path: string,
    channels = 2,
  ) {
    if (!/^127\.0\.0\.1:\d+$/.test(address)) throw new Error(`bench targets 127.0.0.1 only, got ${address}`);
    this.sessions = Array.from({ length: channels }, () => {
      const session = http2.connect(`http://${address}`);
      session.on('error', () => undefined);
      return session;
    });
  }

  /** Sends one call; resolves true on OK, records the first failures in `errors`. */
  send(bytes: Buffer, timeoutMs: number, errors: string[], metadata?: Metadata): Promise<boolean> {
    const session = this.sessions[this.next]!;
    this.next = (this.next + 1) % this.sessions.length;
    return new Promise((resolve) => {
      const fail = (what: string): void => {
        if (errors.length < 5) errors.push(what);
        resolve(false);
      };
      let stream;
      try {
        stream = session.request({
          ':method': 'POST', ':path': this.path, 'content-type': 'application/grpc', te: 'trailers',
          'grpc-timeout': `${timeoutMs}m`, ...(metadata === undefined ? {} : metadata.toHttp2Headers()),
        });
      } catch (err) {
        fail(`UNAVAILABLE ${(err as Error).message}`);
        return;
      }
      let statusHeaders: Record<string, unknown> | undefined;
      stream.on('response', (h) => {
        if (h['grpc-status'] !== undefined) statusHeaders = h;
      });
      stream.on('trailers', (t) => {
        statusHeaders = t;
      });
      stream.on('data', () => undefined);
      stream.on('error', (err: Error) => fail(`UNAVAILABLE ${err.message}`));
      stream.on('close', () => {
        const code = Number(statusHeaders?.['grpc-status'] ?? status.UNKNOWN);
        if (code === status.OK) resolve(true);
        else fail(`${status[code] ?? code} ${decodeURIComponent(String(statusHeaders?.['grpc-message'] ?? ''))}`);
      });
      const framed = Buffer.allocUnsafe(5 + bytes.length);
      framed[0] = 0;
      framed.writeUInt32BE(bytes.length, 1);
      bytes.copy(framed, 5);
      stream.end(framed);
    });
  }

  /** Waits until every connection is up. */
  async ready(timeoutMs = 10_000): Promise<void> {
    await Promise.all(
      this.sessions.map(
        (s) =>
          new Promise<void>((resolve, reject) => {
            if (!s.connecting) return resolve();
            const t = setTimeout(() => reject(new Error('connect timed out')), timeoutMs);
            s.once('connect', () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
  }

  close(): void {
    for (const s of this.sessions) s.close();
  }
}
