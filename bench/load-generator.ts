import { Client, credentials, Metadata, status, type StatusObject } from '@grpc/grpc-js';
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
  const pending: Promise<void>[] = [];
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
        pending.push(
          send(i++).then((good) => {
            inFlight -= 1;
            const done = nowMs();
            if (!measured) return;
            if (good) {
              ok += 1;
              hist.recordMs(done - due);
            } else failed += 1;
            opts.onSample?.(due - windowStart, done - due, good);
          }),
        );
        if (pending.length > 10_000) pending.splice(0, 5_000);
      }
      if (next >= end) resolve();
      else setTimeout(tick, Math.max(0, Math.min(2, next - nowMs())));
    };
    tick();
  });
  await Promise.all(pending);
  const durationMs = opts.durationMs;
  return { mode: 'open', load: opts.rate, durationMs, sent, ok, failed, throughput: (ok / durationMs) * 1000, latency: hist.summary(), errors: errors.slice(0, 5) };
}

const identity = (b: Buffer): Buffer => b;

/**
 * Unary calls over several grpc-js channels (separate HTTP/2 connections, round robin) with raw
 * request bytes, so the load generator spends its CPU on sending, not on protobuf.
 */
export class RawUnaryClient {
  private readonly clients: Client[];
  private next = 0;

  constructor(
    address: string,
    private readonly path: string,
    channels = 2,
  ) {
    if (!/^127\.0\.0\.1:\d+$/.test(address)) throw new Error(`bench targets 127.0.0.1 only, got ${address}`);
    this.clients = Array.from({ length: channels }, () => new Client(address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }));
  }

  /** Sends one call; resolves true on OK, records the first failures in `errors`. */
  send(bytes: Buffer, timeoutMs: number, errors: string[], metadata?: Metadata): Promise<boolean> {
    const client = this.clients[this.next]!;
    this.next = (this.next + 1) % this.clients.length;
    return new Promise((resolve) => {
      client.makeUnaryRequest(this.path, identity, identity, bytes, metadata ?? new Metadata(), { deadline: Date.now() + timeoutMs }, (err: (Error & Partial<StatusObject>) | null) => {
        if (err === null) resolve(true);
        else {
          if (errors.length < 5) errors.push(`${status[err.code ?? status.UNKNOWN]} ${err.details ?? err.message}`);
          resolve(false);
        }
      });
    });
  }

  /** Waits until every channel is connected. */
  async ready(timeoutMs = 10_000): Promise<void> {
    await Promise.all(this.clients.map((c) => new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + timeoutMs, (e) => (e ? reject(e) : resolve())))));
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}
