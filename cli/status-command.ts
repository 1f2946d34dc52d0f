import { credentials } from '@grpc/grpc-js';
import { BreakerState, GatewayAdminServiceClient, GetStatusResponse } from '../gen/authmesh/gateway/v1/gateway.js';
import { formatGatewayStatus } from '../gateway/routing/status-format.js';
import { bearer, unary } from '../lib/grpc/index.js';
import { backupStatus, DEFAULT_BACKUP, meshToken } from './backup-commands.js';
import { optional, UsageError } from './args.js';
import type { Command } from './command.js';
import { DEFAULT_GATEWAY, type CliContext } from './context.js';
import { formatTierStatus, tierStatus, type TierStatus } from './tier-status.js';

/** The local mesh's gateways: eastus and westus. */
const LOCAL_GATEWAYS = [DEFAULT_GATEWAY, '127.0.0.1:50150'];

interface GatewayProbe {
  address: string;
  status?: GetStatusResponse;
  error?: string;
}

async function statusOf(address: string, token: string | undefined): Promise<GatewayProbe> {
  const client = new GatewayAdminServiceClient(address, credentials.createInsecure());
  try {
    const status = await unary<GetStatusResponse>((m, o, cb) => client.getStatus({}, m, o, cb), { timeoutMs: 2000, ...(token === undefined ? {} : { metadata: bearer(token) }) });
    return { address, status };
  } catch (err) {
    return { address, error: (err as { details?: string }).details ?? String(err) };
  } finally {
    client.close();
  }
}

/** One look at the mesh: what each component says, and why it is not healthy (empty when it is). */
export interface MeshProbe {
  gateways: GatewayProbe[];
  backupAddress: string;
  backup: Record<string, unknown>;
  tier: TierStatus | undefined;
  problems: string[];
}

/**
 * Why the mesh is degraded: a gateway, the backup, a global instance or a database node that
 * does not answer, or a fault domain whose breaker is not closed.
 */
export function problemsOf(p: Omit<MeshProbe, 'problems'>): string[] {
  const problems: string[] = [];
  for (const g of p.gateways) {
    if (g.status === undefined) {
      problems.push(`gateway ${g.address} unreachable`);
      continue;
    }
    for (const d of g.status.domains) {
      if (d.breakerState !== BreakerState.BREAKER_STATE_CLOSED) {
        const state = d.breakerState === BreakerState.BREAKER_STATE_HALF_OPEN ? 'half-open' : d.breakerState === BreakerState.BREAKER_STATE_OPEN ? 'open' : 'unreported';
        problems.push(`gateway ${g.address}: breaker of ${d.name} is ${state}`);
      }
    }
  }
  if ('error' in p.backup) problems.push(`backup ${p.backupAddress} unreachable`);
  for (const g of p.tier?.globals ?? []) if (!g.serving) problems.push(`global ${g.name} ${g.address} unreachable`);
  for (const n of p.tier?.database ?? []) if (n.role === 'down') problems.push(`database ${n.name} ${n.address} down`);
  return problems;
}

async function probe(ctx: CliContext): Promise<MeshProbe> {
  const listed = typeof ctx.flags.gateway === 'string' ? ctx.flags.gateway.split(',').map((g) => g.trim()).filter(Boolean) : LOCAL_GATEWAYS;
  // The gateways answer GetStatus only with the mesh token; without one they say so.
  let token: string | undefined;
  try {
    token = meshToken(ctx);
  } catch {
    token = undefined;
  }
  const gateways = await Promise.all(listed.map((g) => statusOf(g, token)));
  const backupAddress = optional(ctx.flags, 'backup') ?? DEFAULT_BACKUP;
  const backup = await backupStatus(backupAddress, ctx.meshCredentials()).catch((err: { details?: string }) => ({ error: err.details ?? String(err) }));
  const tier = await tierStatus(ctx.meshDir, ctx.meshCredentials());
  const seen = { gateways, backupAddress, backup, tier };
  return { ...seen, problems: problemsOf(seen) };
}

function formatProbe(p: MeshProbe): string {
  let out = p.tier === undefined ? '' : formatTierStatus(p.tier);
  for (const r of p.gateways) out += r.status ? `${formatGatewayStatus(r.status)}\n` : `gateway ${r.address}: unreachable (${r.error})\n\n`;
  const b = p.backup;
  out +=
    'error' in b
      ? `backup ${p.backupAddress}: unreachable (${String(b.error)})\n`
      : `backup ${p.backupAddress}: ${b.serving ? 'SERVING' : 'NOT_SERVING'}  snapshot revision ${String(b.revision)}, ${String(b.ageSeconds)} s old (bound ${String(b.maxStalenessSeconds)} s), ${String(b.coveredIdentities)}/${String(b.identities)} identities covered\n`;
  out += p.problems.length === 0 ? 'mesh: healthy\n' : `mesh: degraded\n${p.problems.map((x) => `  - ${x}`).join('\n')}\n`;
  return out;
}

function probeJson(p: MeshProbe): Record<string, unknown> {
  return {
    healthy: p.problems.length === 0,
    problems: p.problems,
    ...(p.tier === undefined ? {} : { global: p.tier }),
    backup: { address: p.backupAddress, ...p.backup },
    gateways: p.gateways.map((r) => (r.status ? { address: r.address, ...(GetStatusResponse.toJSON(r.status) as object) } : { address: r.address, error: r.error })),
  };
}

function positive(ctx: CliContext, name: string, fallback: number, integer: boolean): number {
  const text = optional(ctx.flags, name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isSafeInteger(n))) throw new UsageError(`--${name} must be a positive ${integer ? 'whole ' : ''}number, not "${text}"`);
  return n;
}

/** Resolves after `ms`, or at once when `stop` fires (Ctrl-C). */
function pause(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      stop.removeEventListener('abort', done);
      resolve();
    }
    stop.addEventListener('abort', done, { once: true });
  });
}

/**
 * `authmesh status`: exit code 0 when every component answers and every breaker is closed, 1 when
 * the mesh is degraded, 2 on a usage error. `--watch` redraws every `--interval` seconds until
 * Ctrl-C (or `--count` rounds) and exits with the last round's code.
 */
export const STATUS_COMMAND: Command = {
  words: ['status'],
  printsItself: true,
  usage: '[--gateway HOST:PORT,...] [--backup HOST:PORT] [--mesh-token-file FILE] [--watch [--interval S] [--count N]]',
  options: { gateway: { type: 'string' }, backup: { type: 'string' }, 'mesh-token-file': { type: 'string' }, watch: { type: 'boolean' }, interval: { type: 'string' }, count: { type: 'string' } },
  run: async (ctx) => {
    const watch = ctx.flags.watch === true;
    if (!watch && (ctx.flags.interval !== undefined || ctx.flags.count !== undefined)) throw new UsageError('--interval and --count go with --watch');
    const intervalMs = positive(ctx, 'interval', 2, false) * 1000;
    const rounds = watch ? positive(ctx, 'count', Number.POSITIVE_INFINITY, true) : 1;
    const stop = new AbortController();
    const onSigint = (): void => stop.abort();
    if (watch) process.on('SIGINT', onSigint);
    try {
      for (let round = 1; ; round++) {
        const p = await probe(ctx);
        ctx.exitCode = p.problems.length === 0 ? 0 : 1;
        if (ctx.json) process.stdout.write(`${JSON.stringify(probeJson(p))}\n`);
        else process.stdout.write(`${watch && process.stdout.isTTY ? '\x1b[2J\x1b[H' : ''}${watch ? `${new Date().toISOString()}\n` : ''}${formatProbe(p)}`);
        if (round >= rounds || stop.signal.aborted) break;
        await pause(intervalMs, stop.signal);
        if (stop.signal.aborted) break;
      }
    } finally {
      process.off('SIGINT', onSigint);
    }
    return {};
  },
};
