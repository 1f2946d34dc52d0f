import http2, { type ClientHttp2Session, type OutgoingHttpHeaders } from 'node:http2';
import path from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { Metadata, status } from '@grpc/grpc-js';
import { LatencyHistogram, type LatencySummary } from './histogram.js';
import { startPacer, type Pacer } from './pacer.js';
import { toPortable, type AssertionSigner, type PortableSigner } from './requests.js';

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
  /** Open loop: how late calls left against their due time (the sender's own lateness). */
  sendLateness?: LatencySummary;
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
  /**
   * Called with the ms since the measured window started that each call was due, its latency (for
   * windowed percentiles), and how late it left against its due time.
   */
  onSample?: (atMs: number, latencyMs: number, ok: boolean, sentLateMs: number) => void;
  /** Called once when the measured window starts, with its scheduled start (performance.now()). */
  onStart?: (windowStartMs: number) => void;
  /**
   * What wakes the loop at each due time: `timer` (setTimeout, whole milliseconds, the default) or
   * `thread` (a pacer thread, to a fraction of a millisecond; see `bench/pacer.ts`).
   */
  pacer?: 'timer' | 'thread';
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
  const lateness = new LatencyHistogram();
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
  let pacer: Pacer | undefined;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      if (next >= end) return;
      const t = nowMs();
      if (!started && t >= windowStart) {
        started = true;
        opts.onStart?.(windowStart);
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
        const late = nowMs() - due;
        if (measured) {
          sent += 1;
          lateness.recordMs(late);
        }
        void send(i++).then((good) => {
          const done = nowMs();
          settled();
          if (!measured) return;
          if (good) {
            ok += 1;
            hist.recordMs(done - due);
          } else failed += 1;
          opts.onSample?.(due - windowStart, done - due, good, late);
        });
      }
      if (next >= end) {
        pacer?.stop();
        resolve();
      } else if (pacer === undefined) setTimeout(tick, Math.max(0, Math.min(2, next - nowMs())));
    };
    // A pacer thread that fails hands the schedule back to the timer.
    if (opts.pacer === 'thread') pacer = startPacer(begin, interval, end, tick, () => ((pacer = undefined), tick()));
    tick();
  });
  if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
  const durationMs = opts.durationMs;
  return {
    mode: 'open', load: opts.rate, durationMs, sent, ok, failed, throughput: (ok / durationMs) * 1000, latency: hist.summary(), errors: errors.slice(0, 5),
    sendLateness: lateness.summary(),
  };
}

/** The port of a `127.0.0.1:port` address; the bench targets nothing else. */
export function loopbackPort(address: string): number {
  const m = /^127\.0\.0\.1:(\d+)$/.exec(address);
  if (m === null) throw new Error(`bench targets 127.0.0.1 only, got ${address}`);
  return Number(m[1]);
}

/**
 * Unary gRPC calls in gRPC's framing over node:http2 on several connections (round robin), with raw
 * request bytes, so none of a general client's per-call layers run. Counts a call as OK only when
 * the reply's grpc-status is 0. The bench sends with `LeanUnaryClient` unless told otherwise: this
 * one reads the status itself, at several times the CPU per call.
 */
export class RawUnaryClient {
  private readonly sessions: ClientHttp2Session[];
  private readonly headers: OutgoingHttpHeaders;
  private next = 0;

  /**
   * @param headers extra request headers of every call (e.g. `Metadata.toHttp2Headers()`).
   * @param timeoutMs grpc-timeout of every call.
   */
  constructor(
    address: string,
    path: string,
    channels = 2,
    headers: Metadata | OutgoingHttpHeaders = {},
    timeoutMs = 5000,
  ) {
    loopbackPort(address);
    // One headers object for every call: http2 copies it per stream, so nothing is built per call.
    this.headers = {
      ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers',
      'grpc-timeout': `${timeoutMs}m`, ...(headers instanceof Metadata ? headers.toHttp2Headers() : headers),
    };
    this.sessions = Array.from({ length: channels }, () => {
      const session = http2.connect(`http://${address}`);
      session.on('error', () => undefined);
      return session;
    });
  }

  /**
   * Sends one call whose request is already in gRPC's framing (`frame(bytes)`, done once per
   * request rather than per call); resolves true on OK, records the first failures in `errors`.
   */
  send(framed: Buffer, errors: string[]): Promise<boolean> {
    const session = this.sessions[this.next]!;
    this.next = (this.next + 1) % this.sessions.length;
    return new Promise((resolve) => {
      const fail = (what: string): void => {
        if (errors.length < 5) errors.push(what);
        resolve(false);
      };
      let stream;
      try {
        stream = session.request(this.headers);
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

/** Where a load worker sends its calls. */
export interface WorkerTarget {
  /** 127.0.0.1:port */
  address: string;
  /** The gRPC method path. */
  path: string;
  /** HTTP/2 connections, round robin. Default 2. */
  channels?: number;
  /** Extra request headers (e.g. `Metadata.toHttp2Headers()`). */
  headers?: OutgoingHttpHeaders;
  /** grpc-timeout of each call. Default 5,000 ms. */
  timeoutMs?: number;
  /**
   * The HTTP/2 client that sends: `lean` (default) writes frames to the socket itself
   * (`LeanUnaryClient`), `node` goes through node:http2 (`RawUnaryClient`) and reads every
   * reply's grpc-status, at several times the CPU per call.
   */
  client?: SenderClient;
}

export type SenderClient = 'lean' | 'node';

/** What a load worker sends: pre-encoded requests round robin, or a fresh assertion per call signed for each workload in turn. */
export type WorkerRequests = Buffer[] | { fresh: AssertionSigner[] };

/** The sending thread's own state during the measured window: what could make calls leave late. */
export interface SenderStats {
  /** Event-loop delay of the sending thread, ms (when watched). */
  loopDelay?: { p50: number; p99: number; max: number };
  /** Its GC pauses from the start of the measured window (ms since it started), the first 1,000. */
  gc: { at: number; ms: number; kind: number }[];
  /** Its used heap at the end, MiB. */
  heapUsedMiB: number;
}

export type WorkerLoadResult = LoadResult & { sender: SenderStats };

/**
 * Watches the calling thread's GC pauses, and its event-loop delay unless told not to (a 1 ms timer
 * of its own), while it sends: `window` marks the measured window's start (performance.now()),
 * `stop` ends the watch and sums up the window.
 */
export function watchSender(loopDelay = true): { window: (startMs: number) => void; stop: () => SenderStats } {
  let windowStart = performance.now();
  const gcs: (PerformanceEntry & { detail?: { kind?: number } })[] = [];
  const observer = new PerformanceObserver((list) => {
    if (gcs.length < 10_000) gcs.push(...list.getEntries());
  });
  observer.observe({ entryTypes: ['gc'] });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  if (loopDelay) delay.enable();
  return {
    window: (startMs) => {
      windowStart = startMs;
      delay.reset();
    },
    stop: () => {
      delay.disable();
      observer.disconnect();
      const ms = (ns: number): number => Math.round(ns / 1e3) / 1e3;
      return {
        loopDelay: loopDelay ? { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) } : undefined,
        gc: gcs.filter((e) => e.startTime >= windowStart).slice(0, 1000).map((e) => ({ at: e.startTime - windowStart, ms: e.duration, kind: e.detail?.kind ?? 0 })),
        heapUsedMiB: Math.round((getHeapStatistics().used_heap_size / 2 ** 20) * 10) / 10,
      };
    },
  };
}

/** What the worker thread is given (structured-clone safe). */
export interface LoadJob {
  target: WorkerTarget;
  requests: { bytes: Uint8Array; ends: number[] } | { fresh: PortableSigner[] };
  closed?: ClosedLoopOptions;
  open?: Omit<OpenLoopOptions, 'onSample' | 'onStart'>;
  /** Whether to post back each sample (in batches). */
  samples: boolean;
}

/** What the worker posts back. Samples come as (atMs, latencyMs, ok 1/0, sentLateMs) quadruples. */
export type LoadMessage =
  | { type: 'start'; at: number }
  | { type: 'samples'; data: Float64Array }
  | { type: 'done'; result: WorkerLoadResult };

function portableRequests(requests: WorkerRequests): LoadJob['requests'] {
  if (!Array.isArray(requests)) return { fresh: requests.fresh.map(toPortable) };
  const ends: number[] = [];
  let end = 0;
  for (const r of requests) ends.push((end += r.length));
  return { bytes: Buffer.concat(requests, end), ends };
}

function runInWorker(job: LoadJob, opts: Pick<OpenLoopOptions, 'onSample' | 'onStart'>): Promise<WorkerLoadResult> {
  return new Promise((resolve, reject) => {
    // Most of what a call allocates still survives the next scavenge, so a scavenge's pause grows
    // with the young generation: an open loop's worker keeps it small (1 MiB semi-spaces), trading
    // a few long pauses for many of about a millisecond. A closed loop keeps the default.
    const resourceLimits = job.open === undefined ? undefined : { maxYoungGenerationSizeMb: 3 };
    const worker = new Worker(path.join(__dirname, 'load-worker.js'), { workerData: job, resourceLimits });
    let result: WorkerLoadResult | undefined;
    let failure: Error | undefined;
    worker.on('message', (m: LoadMessage) => {
      if (m.type === 'start') opts.onStart?.(m.at - performance.timeOrigin);
      else if (m.type === 'samples') {
        const d = m.data;
        for (let k = 0; k + 3 < d.length; k += 4) opts.onSample?.(d[k]!, d[k + 1]!, d[k + 2] === 1, d[k + 3]!);
      } else {
        result = m.result;
        void worker.terminate();
      }
    });
    worker.on('error', (err) => (failure = err));
    worker.on('exit', (code) => (result !== undefined ? resolve(result) : reject(failure ?? new Error(`load worker exited with code ${code}`))));
  });
}

/**
 * `openLoop` run by a worker thread that owns the connections, the schedule and the histogram, so
 * the calling thread's heap and GC pauses do not count as latency. `onStart` gets the window's
 * start in this thread's performance.now() clock; `onSample` gets every sample, in batches.
 */
export function openLoopInWorker(target: WorkerTarget, requests: WorkerRequests, opts: OpenLoopOptions): Promise<WorkerLoadResult> {
  const { onSample, onStart, ...open } = opts;
  return runInWorker({ target, requests: portableRequests(requests), open, samples: onSample !== undefined }, { onSample, onStart });
}

/** `closedLoop` run by a worker thread (see `openLoopInWorker`). */
export function closedLoopInWorker(target: WorkerTarget, requests: WorkerRequests, opts: ClosedLoopOptions): Promise<WorkerLoadResult> {
  return runInWorker({ target, requests: portableRequests(requests), closed: opts, samples: false }, {});
}
