/** Watches a domain's grpc.health.v1 status, reconnecting with backoff. */
import type { EventEmitter } from 'node:events';
import { credentials, makeGenericClientConstructor, type ChannelCredentials, type Client } from '@grpc/grpc-js';
import { meshChannelOptions, meshTarget } from '../../lib/grpc/mesh-tls.js';
import { service as healthService } from 'grpc-health-check';
import type { HealthView } from './health-snapshot.js';

/** Options of the reconnect backoff ("decorrelated jitter"). */
export interface BackoffOptions {
  /** First and smallest delay, ms. Default 100. */
  baseMs?: number;
  /** Largest delay, ms. Default 5000. */
  capMs?: number;
}

/**
 * Next reconnect delay with decorrelated jitter: uniform in [base, 3 × previous], capped. Spreads
 * the gateways of a fleet so a recovering domain is not stampeded by reconnects in lockstep.
 */
export function nextBackoff(previousMs: number, random: () => number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 100;
  const cap = options.capMs ?? 5_000;
  const upper = Math.max(base, previousMs * 3);
  return Math.min(cap, base + random() * (upper - base));
}

/** The part of a grpc-js server stream the watch uses; a fake in tests. */
export interface WatchStream extends EventEmitter {
  cancel(): void;
}

/** Opens a grpc.health.v1 Watch stream for a service name. */
export type OpenWatch = (serviceName: string) => WatchStream;

/** Timer functions, injectable so tests drive reconnects without sleeping. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface HealthWatchOptions {
  /** Service name to watch. */
  serviceName: string;
  openWatch: OpenWatch;
  /** Called on every change of the health view. */
  onChange?: (health: HealthView) => void;
  backoff?: BackoffOptions;
  random?: () => number;
  timers?: Timers;
}

const VIEW_BY_STATUS: Readonly<Record<string, HealthView>> = {
  SERVING: 'serving',
  NOT_SERVING: 'not-serving',
  UNKNOWN: 'unknown',
  SERVICE_UNKNOWN: 'not-serving',
  '1': 'serving',
  '2': 'not-serving',
  '0': 'unknown',
  '3': 'not-serving',
};

/**
 * Keeps a grpc.health.v1 Watch open on one fault domain and reports what it says. When the stream
 * ends or fails the domain is `unreachable` and the watch reopens after a jittered backoff that
 * grows while failures repeat and starts over once a status arrives.
 */
export class HealthWatch {
  private state: HealthView = 'unknown';
  private stream: WatchStream | undefined;
  private timer: unknown;
  private delayMs = 0;
  private stopped = true;

  constructor(private readonly options: HealthWatchOptions) {}

  get health(): HealthView {
    return this.state;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.open();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) (this.options.timers ?? realTimers).clearTimeout(this.timer);
    this.timer = undefined;
    const s = this.stream;
    this.stream = undefined;
    s?.cancel();
  }

  private set(view: HealthView): void {
    if (view === this.state) return;
    this.state = view;
    this.options.onChange?.(view);
  }

  private open(): void {
    const stream = this.options.openWatch(this.options.serviceName);
    this.stream = stream;
    stream.on('data', (msg: { status?: string | number }) => {
      this.delayMs = 0;
      this.set(VIEW_BY_STATUS[String(msg.status)] ?? 'unknown');
    });
    let ended = false;
    const onEnd = (): void => {
      if (ended || this.stream !== stream) return;
      ended = true;
      this.stream = undefined;
      if (this.stopped) return;
      this.set('unreachable');
      this.delayMs = nextBackoff(this.delayMs, this.options.random ?? Math.random, this.options.backoff);
      this.timer = (this.options.timers ?? realTimers).setTimeout(() => {
        this.timer = undefined;
        if (!this.stopped) this.open();
      }, this.delayMs);
    };
    stream.on('error', onEnd);
    stream.on('end', onEnd);
    stream.on('close', onEnd);
  }
}

const HealthClient = makeGenericClientConstructor(healthService, 'Health');

/** An {@link OpenWatch} over grpc-js to `address`, with its own client; close it when done. */
export function grpcOpenWatch(address: string, channelCredentials?: ChannelCredentials): { openWatch: OpenWatch; client: Client } {
  const creds = channelCredentials ?? credentials.createInsecure();
  const client = new HealthClient(meshTarget(address), creds, {
    ...meshChannelOptions(address, creds),
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 2_000,
  });
  const watch = (client as unknown as { watch(req: { service: string }): WatchStream }).watch.bind(client);
  return { openWatch: (serviceName) => watch({ service: serviceName }), client };
}
