import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { AdminServiceClient } from '../../../gen/authmesh/admin/v1/admin.js';
import { writeMemberTokenFile } from '../../../lib/grpc/index.js';
import { bearer, call } from '../../support/global-harness.js';
import { spawnService, waitForServing, type SpawnedService } from '../../support/spawn-service.js';
import { listeningAddress } from './regional-harness.js';

/** A real global process in a temp data dir, with admin helpers for seeding workloads. */
export interface GlobalProcess {
  proc: SpawnedService;
  address: string;
  dataDir: string;
  meshTokenFile: string;
  /** Writes the development token of mesh member `member` (e.g. `regional-eastus`) and returns its file. */
  memberTokenFile(member: string): string;
  admin<Res>(method: string, request: object): Promise<Res>;
  /** Creates an app with a secret and the `reader` role on the tenant's resource. */
  seedApp(name: string): Promise<{ clientId: string; secret: string }>;
  tenantId: string;
  resource: string;
  stop(): Promise<void>;
}

export async function startGlobalProcess(extraArgs: string[] = []): Promise<GlobalProcess> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'regional-sys-global-'));
  const proc = spawnService('global', 'services/global/main.js', ['--listen', '127.0.0.1:0', '--data-dir', dataDir, ...extraArgs]);
  const address = await listeningAddress(proc);
  await waitForServing(address);
  const adminToken = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  const client = new AdminServiceClient(address, credentials.createInsecure());
  const admin = <Res>(method: string, request: object): Promise<Res> => call<Res>(client, method, request, bearer(adminToken));
  const { tenantId } = await admin<{ tenantId: string }>('createTenant', { name: 'contoso' });
  const resource = 'https://storage.authmesh.test';
  await admin('createResource', { tenantId, identifier: resource, roles: ['reader', 'writer'] });
  return {
    proc,
    address,
    dataDir,
    meshTokenFile: path.join(dataDir, 'mesh-token'),
    memberTokenFile: (member) => writeMemberTokenFile(dataDir, member),
    admin,
    tenantId,
    resource,
    async seedApp(name) {
      const { clientId } = await admin<{ clientId: string }>('createApp', { tenantId, name });
      const { secret } = await admin<{ secret: string }>('addSecretCredential', { tenantId, clientId });
      await admin('grantRole', { tenantId, clientId, resource, role: 'reader' });
      return { clientId, secret };
    },
    async stop() {
      client.close();
      await proc.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
