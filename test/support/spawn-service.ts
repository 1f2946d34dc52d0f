import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { waitForServing as waitForServingLib } from '../../lib/grpc/index.js';
import { SERVICE_NODE_FLAGS } from '../../lib/runtime/node-flags.js';

/** Root of the compiled tree (dist/), from dist/test/support. */
export const DIST = path.resolve(__dirname, '..', '..');

export interface SpawnedService {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Every line the process printed so far (stdout and stderr). */
  output: string[];
  /** Resolves with the exit code or signal once the process is gone. */
  exited: Promise<number | NodeJS.Signals | null>;
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after graceMs if still running. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * PIDs of the processes started here that have not exited yet. If the starting process exits
 * without stopping them (an uncaught error, `process.exit`, a write to a closed stdout), its
 * `exit` handler SIGKILLs them, so a harness, bench or probe that dies leaves no service behind.
 * A harness killed by a signal it does not handle exits without running it.
 */
const running = new Set<number>();

process.once('exit', () => {
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      // Gone between its exit and the `exit` event that would have removed it: nothing to end.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
});

/**
 * Starts a compiled entry point (`services/global/main.js`, relative to dist/) as a real process.
 * Only processes started here are ever signalled, by their own PID.
 */
export function spawnService(name: string, entry: string, args: string[], env: Record<string, string> = {}): SpawnedService {
  // Telemetry starts before the service, as in run-mesh; OTEL_SDK_DISABLED=true keeps it off.
  // AUTHMESH_NODE_FLAGS (space-separated) passes node flags NODE_OPTIONS refuses, e.g. --cpu-prof.
  const nodeFlags = (env.AUTHMESH_NODE_FLAGS ?? '').split(' ').filter((f) => f.length > 0);
  // The mesh's own flags come first, so a flag given in AUTHMESH_NODE_FLAGS overrides them.
  const child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, ...nodeFlags, '--require', path.join(DIST, 'lib', 'telemetry', 'register.js'), path.join(DIST, entry), ...args], {
    env: { ...process.env, OTEL_SDK_DISABLED: process.env.OTEL_SDK_DISABLED ?? 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const collect = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.length > 0) output.push(line);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal));
  });
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const pid = child.pid;
  running.add(pid);
  child.once('exit', () => running.delete(pid));
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    name,
    child,
    pid,
    output,
    exited,
    kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (alive()) process.kill(pid, signal);
    },
    async stop(graceMs = 3000) {
      if (!alive()) return;
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => alive() && process.kill(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls grpc.health.v1 Check until the server says SERVING, or throws after timeoutMs. */
export function waitForServing(address: string, timeoutMs = 15_000, serviceName = ''): Promise<void> {
  return waitForServingLib(address, { timeoutMs, service: serviceName });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
