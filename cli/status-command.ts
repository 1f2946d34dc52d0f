import { credentials } from '@grpc/grpc-js';
import { GatewayAdminServiceClient, GetStatusResponse } from '../gen/authmesh/gateway/v1/gateway.js';
import { formatGatewayStatus } from '../gateway/status-format.js';
import { bearer, unary } from '../lib/grpc/index.js';
import { backupStatus, DEFAULT_BACKUP, meshToken } from './backup-commands.js';
import { optional } from './args.js';
import type { Command } from './command.js';
import { DEFAULT_GATEWAY } from './context.js';
import { formatTierStatus, tierStatus } from './tier-status.js';

/** The local mesh's gateways: eastus and westus. */
const LOCAL_GATEWAYS = [DEFAULT_GATEWAY, '127.0.0.1:50150'];

async function statusOf(address: string, token: string | undefined): Promise<{ address: string; status?: GetStatusResponse; error?: string }> {
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

export const STATUS_COMMAND: Command = {
  words: ['status'],
  usage: '[--gateway HOST:PORT,...] [--backup HOST:PORT] [--mesh-token-file FILE]',
  options: { gateway: { type: 'string' }, backup: { type: 'string' }, 'mesh-token-file': { type: 'string' } },
  run: async (ctx) => {
    const listed = typeof ctx.flags.gateway === 'string' ? ctx.flags.gateway.split(',').map((g) => g.trim()).filter(Boolean) : LOCAL_GATEWAYS;
    // The gateways answer GetStatus only with the mesh token; without one they say so.
    let token: string | undefined;
    try {
      token = meshToken(ctx);
    } catch {
      token = undefined;
    }
    const results = await Promise.all(listed.map((g) => statusOf(g, token)));
    const backupAddress = optional(ctx.flags, 'backup') ?? DEFAULT_BACKUP;
    const backup = await backupStatus(backupAddress, ctx.meshCredentials()).catch((err: { details?: string }) => ({ address: backupAddress, error: err.details ?? String(err) }));
    const tier = await tierStatus(ctx.meshDir, ctx.meshCredentials());
    if (!ctx.json) {
      if (tier !== undefined) process.stdout.write(formatTierStatus(tier));
      for (const r of results) {
        process.stdout.write(r.status ? `${formatGatewayStatus(r.status)}\n` : `gateway ${r.address}: unreachable (${r.error})\n\n`);
      }
      const b = backup as Record<string, unknown>;
      process.stdout.write(
        'error' in b
          ? `backup ${backupAddress}: unreachable (${String(b.error)})\n`
          : `backup ${backupAddress}: ${b.serving ? 'SERVING' : 'NOT_SERVING'}  snapshot revision ${String(b.revision)}, ${String(b.ageSeconds)} s old (bound ${String(b.maxStalenessSeconds)} s), ${String(b.coveredIdentities)}/${String(b.identities)} identities covered\n`,
      );
      return {};
    }
    return {
      ...(tier === undefined ? {} : { global: tier }),
      backup,
      gateways: results.map((r) => (r.status ? { address: r.address, ...GetStatusResponse.toJSON(r.status) as object } : { address: r.address, error: r.error })),
    };
  },
};
