import fs from 'node:fs';
import path from 'node:path';
import { credentials, makeGenericClientConstructor, Metadata, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { DirectoryServiceClient, type LookupIdentityResponse } from '../../gen/authmesh/directory/v1/directory.js';
import { service as healthService } from 'grpc-health-check';
import { BackupStatusServiceClient, type GetStatusResponse } from '../../gen/authmesh/backup/v1/backup.js';
import { TokenServiceClient, type AcquireTokenResponse } from '../../gen/authmesh/token/v1/token.js';
import { bearer, unary, writeMemberTokenFile } from '../../lib/grpc/index.js';
import { ASSERTION_TYPE } from '../../lib/token/index.js';
import type { TestMesh, TestWorkload } from './mesh-harness.js';
import { RESOURCE } from './mesh-harness.js';

export interface BackupFiles {
  dataDir: string;
  storeDir: string;
  exportPublicKey: string;
  meshTokenFile: string;
}

/** Starts services/backup/main.js as `backup` in the mesh. */
export async function startBackupProcess(mesh: TestMesh, files: BackupFiles, extra: string[] = []): Promise<void> {
  await mesh.start('backup', 'services/backup/main.js', (port) => [
    '--listen', `127.0.0.1:${port}`, '--data-dir', files.dataDir, '--store-dir', files.storeDir,
    '--export-public-key', files.exportPublicKey, '--mesh-token-file', files.meshTokenFile, '--poll-interval', '200ms', ...extra,
  ]);
}

/** The backup's member token (development mode), what `backup init` registers its key with. */
export const backupMemberToken = (mesh: TestMesh): string => fs.readFileSync(writeMemberTokenFile(path.join(mesh.dir, 'global'), 'backup'), 'utf8').trim();

/** The files of a backup set up next to the mesh's global. */
export const meshBackupFiles = (mesh: TestMesh): BackupFiles => ({
  dataDir: path.join(mesh.dir, 'backup'),
  storeDir: path.join(mesh.dir, 'global', 'backups'),
  exportPublicKey: path.join(mesh.dir, 'global', 'export-key.pub.pem'),
  meshTokenFile: path.join(mesh.dir, 'global', 'mesh-token'),
});

export interface DirectOutcome {
  response?: AcquireTokenResponse;
  error?: ServiceError;
  reason?: string;
}

/** One AcquireToken straight to a domain, with a mesh token (or none); never throws. */
export function acquireDirect(
  address: string,
  req: { tenantId: string; clientId: string; assertion?: string; secret?: string; scope?: string },
  meshToken: string | undefined,
  channelCredentials: ChannelCredentials = credentials.createInsecure(),
): Promise<DirectOutcome> {
  const client = new TokenServiceClient(address, channelCredentials);
  const request = {
    tenantId: req.tenantId,
    clientId: req.clientId,
    scope: req.scope ?? `${RESOURCE}/.default`,
    clientAssertion: req.assertion ?? '',
    clientAssertionType: req.assertion === undefined ? '' : ASSERTION_TYPE,
    clientSecret: req.secret ?? '',
  };
  return new Promise((resolve) => {
    client.acquireToken(request, meshToken === undefined ? new Metadata() : bearer(meshToken), { deadline: Date.now() + 5000 }, (err, res) => {
      client.close();
      if (err) resolve({ error: err, reason: String(err.metadata?.get('authmesh-reason')[0] ?? '') });
      else resolve({ response: res });
    });
  });
}

export const workloadRequest = (w: TestWorkload): { tenantId: string; clientId: string; assertion: string } => ({
  tenantId: w.tenantId,
  clientId: w.clientId,
  assertion: w.assertion,
});

export async function backupStatusOf(address: string): Promise<GetStatusResponse> {
  const client = new BackupStatusServiceClient(address, credentials.createInsecure());
  try {
    return await unary<GetStatusResponse>((m, o, cb) => client.getStatus({}, m, o, cb));
  } finally {
    client.close();
  }
}

const HealthClient = makeGenericClientConstructor(healthService, 'Health');
type CheckFn = (req: { service: string }, opts: { deadline: number }, cb: (err: Error | null, res?: { status: string }) => void) => void;

/** grpc.health.v1 Check of one service ('' for the server), or 'no answer'. */
export async function healthOf(address: string, service = ''): Promise<string> {
  const client = new HealthClient(address, credentials.createInsecure());
  const check = (client as unknown as { check: CheckFn }).check.bind(client);
  try {
    return await new Promise<string>((resolve) =>
      check({ service }, { deadline: Date.now() + 1000 }, (err, res) => resolve(err ? 'no answer' : String(res?.status))),
    );
  } finally {
    client.close();
  }
}

/**
 * Waits until global has written each workload's last successful authentication (the usage flush),
 * asking global's directory API with the mesh token (or mesh certificate), so a backup export
 * that follows covers them. Throws with the workloads still missing after `timeoutMs`.
 */
export async function waitForUsageRecorded(
  globalAddress: string,
  workloads: readonly { tenantId: string; clientId: string }[],
  auth: { meshToken?: string; channelCredentials?: ChannelCredentials },
  timeoutMs = 10_000,
): Promise<void> {
  const client = new DirectoryServiceClient(globalAddress, auth.channelCredentials ?? credentials.createInsecure());
  const md = auth.meshToken === undefined ? new Metadata() : bearer(auth.meshToken);
  const deadline = Date.now() + timeoutMs;
  let missing = [...workloads];
  try {
    while (missing.length > 0) {
      const still: typeof missing = [];
      for (const w of missing) {
        const res = await unary<LookupIdentityResponse>((m, o, cb) => client.lookupIdentity({ tenantId: w.tenantId, clientId: w.clientId, region: '' }, m, o, cb), { metadata: md, timeoutMs: 3000 });
        if (Number(res.identity?.lastAuthenticatedAtMs ?? 0) <= 0) still.push(w);
      }
      missing = still;
      if (missing.length === 0) return;
      if (Date.now() > deadline) throw new Error(`usage not recorded after ${timeoutMs} ms for ${missing.map((w) => w.clientId).join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    client.close();
  }
}
