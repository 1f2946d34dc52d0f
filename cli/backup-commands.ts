import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AdminServiceClient, type ExportBackupResponse } from '../gen/authmesh/admin/v1/admin.js';
import { BackupStatusServiceClient, type GetStatusResponse } from '../gen/authmesh/backup/v1/backup.js';
import { DirectoryServiceClient, type RegisterSigningKeyResponse } from '../gen/authmesh/directory/v1/directory.js';
import { bearer, meshChannelOptions, meshTarget, memberToken, MEMBER_TOKEN_KEY_FILE, unary } from '../lib/grpc/index.js';
import { TokenSigner } from '../lib/token/index.js';
import { optional, UsageError } from './args.js';
import type { Command } from './command.js';
import { DEFAULT_GLOBAL, type CliContext } from './context.js';

const s = { type: 'string' } as const;
export const DEFAULT_BACKUP = '127.0.0.1:50071';

export interface BackupInitOptions {
  dataDir: string;
  /** DirectoryService address (global). */
  global: string;
  /** The backup's member token (development mode; unused under mutual TLS, where the `backup` certificate names it). */
  meshToken: string;
  /** Mutual TLS inside the mesh (a `backup` or `admin` certificate). Default plaintext. */
  channelCredentials?: ChannelCredentials;
}

/**
 * Creates the backup's signing key in its data dir (once) and publishes the public half through
 * global's DirectoryService.RegisterSigningKey, so it is in every snapshot and JWK Set.
 */
export async function initBackup(opts: BackupInitOptions): Promise<{ kid: string; revision: number; signingKey: string }> {
  const file = path.join(opts.dataDir, 'signing-key.pem');
  const signer = await TokenSigner.loadOrCreate(file, 'backup');
  const client = new DirectoryServiceClient(meshTarget(opts.global), opts.channelCredentials ?? credentials.createInsecure(), meshChannelOptions(opts.global, opts.channelCredentials ?? credentials.createInsecure()));
  try {
    const metadata = bearer(opts.meshToken);
    const res = await unary<RegisterSigningKeyResponse>(
      (m, o, cb) => client.registerSigningKey({ domain: 'backup', publicJwkJson: JSON.stringify(signer.publicJwk) }, m, o, cb),
      { metadata },
    );
    return { kid: res.kid, revision: res.revision, signingKey: file };
  } finally {
    client.close();
  }
}

/** Asks global (AdminService.ExportBackup, admin token) to write a snapshot now. */
export async function exportBackup(admin: string, adminToken: string, channelCredentials?: ChannelCredentials): Promise<ExportBackupResponse> {
  const client = new AdminServiceClient(meshTarget(admin), channelCredentials ?? credentials.createInsecure(), meshChannelOptions(admin, channelCredentials ?? credentials.createInsecure()));
  try {
    return await unary<ExportBackupResponse>((m, o, cb) => client.exportBackup({}, m, o, cb), { metadata: bearer(adminToken), timeoutMs: 60_000 });
  } finally {
    client.close();
  }
}

/** The mesh token gateways hold (what their GetStatus answers): --mesh-token-file, else the local mesh's. */
export function meshToken(ctx: CliContext): string {
  const file = optional(ctx.flags, 'mesh-token-file') ?? path.join(ctx.meshDir, 'global', 'mesh-token');
  return readFileSync(file, 'utf8').trim();
}

/** The backup's member token: from --mesh-token-file, or issued from the local global's member-token key. */
function backupMemberToken(ctx: CliContext): string {
  const given = optional(ctx.flags, 'mesh-token-file');
  const file = given ?? path.join(ctx.meshDir, 'global', MEMBER_TOKEN_KEY_FILE);
  try {
    const text = readFileSync(file, 'utf8').trim();
    return given === undefined ? memberToken(text, 'backup') : text;
  } catch {
    throw new UsageError(`cannot read the backup's member token (or global's member-token key) from ${file} (pass --mesh-token-file)`);
  }
}

export const BACKUP_COMMANDS: readonly Command[] = [
  {
    words: ['backup', 'init'],
    usage: '[--data-dir DIR] [--global HOST:PORT] [--mesh-token-file FILE]',
    options: { 'data-dir': s, global: s, 'mesh-token-file': s },
    run: (ctx) =>
      initBackup({
        dataDir: optional(ctx.flags, 'data-dir') ?? path.join(ctx.meshDir, 'backup'),
        global: optional(ctx.flags, 'global') ?? DEFAULT_GLOBAL,
        meshToken: backupMemberToken(ctx),
        // Only the backup itself may register the backup's key: its certificate, not admin's.
        channelCredentials: ctx.meshCredentials('backup'),
      }),
  },
  {
    words: ['backup', 'export'],
    usage: '',
    options: {},
    run: async (ctx) => {
      const res = await exportBackup(ctx.adminAddress(), ctx.adminToken(), ctx.meshCredentials());
      return { revision: res.revision, snapshot: res.snapshotName, identities: res.identities };
    },
  },
  {
    words: ['backup', 'status'],
    usage: '[--backup HOST:PORT]',
    options: { backup: s },
    run: (ctx) => backupStatus(optional(ctx.flags, 'backup') ?? DEFAULT_BACKUP, ctx.meshCredentials()),
  },
];

/** The backup's snapshot revision, age and coverage, as `backup status` and `status` show it. */
export async function backupStatus(address: string, channelCredentials?: ChannelCredentials): Promise<Record<string, unknown>> {
  const client = new BackupStatusServiceClient(address, channelCredentials ?? credentials.createInsecure(), meshChannelOptions(address, channelCredentials ?? credentials.createInsecure()));
  try {
    const r = await unary<GetStatusResponse>((m, o, cb) => client.getStatus({}, m, o, cb), { timeoutMs: 2000 });
    return {
      serving: r.serving,
      revision: r.revision,
      snapshot: r.snapshotName,
      ageSeconds: Math.round(r.ageMs / 1000),
      maxStalenessSeconds: Math.round(r.maxStalenessMs / 1000),
      identities: r.identities,
      coveredIdentities: r.coveredIdentities,
      ...(r.lastRejection === '' ? {} : { lastRejection: r.lastRejection }),
    };
  } finally {
    client.close();
  }
}
