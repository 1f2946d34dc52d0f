import { credentials } from '@grpc/grpc-js';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AdminServiceClient } from '../gen/authmesh/admin/v1/admin.js';
import { bearer, meshChannelOptions, meshTarget, unary } from '../lib/grpc/index.js';
import { writePrivateFile } from '../lib/token/index.js';

/** The demo identity `make run-mesh` creates on first start. */
export interface DemoSeed {
  tenantId: string;
  clientId: string;
  resource: string;
  keyFile: string;
}

export const DEMO_RESOURCE = 'https://storage.authmesh.local';

/**
 * Creates the demo tenant, resource, workload and certificate credential once; later starts
 * read them back from `<mesh>/demo/seed.json`.
 */
export async function seedDemo(meshDir: string, globalAddress: string, channelCredentials = credentials.createInsecure()): Promise<DemoSeed> {
  const seedFile = path.join(meshDir, 'demo', 'seed.json');
  if (existsSync(seedFile)) return JSON.parse(readFileSync(seedFile, 'utf8')) as DemoSeed;

  const token = readFileSync(path.join(meshDir, 'global', 'admin-token'), 'utf8').trim();
  const metadata = bearer(token);
  const admin = new AdminServiceClient(meshTarget(globalAddress), channelCredentials, meshChannelOptions(globalAddress, channelCredentials));
  try {
    const { tenantId } = await unary<{ tenantId: string }>((m, o, cb) => admin.createTenant({ name: 'demo' }, m, o, cb), { metadata });
    await unary((m, o, cb) => admin.createResource({ tenantId, identifier: DEMO_RESOURCE, roles: ['Blob.Read', 'Blob.Write'] }, m, o, cb), { metadata });
    const { clientId } = await unary<{ clientId: string }>((m, o, cb) => admin.createApp({ tenantId, name: 'demo-workload' }, m, o, cb), { metadata });
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keyFile = path.join(meshDir, 'demo', 'workload-key.pem');
    writePrivateFile(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    await unary((m, o, cb) => admin.addCertificateCredential({ tenantId, clientId, pem, notBefore: 0, notAfter: 0 }, m, o, cb), { metadata });
    await unary((m, o, cb) => admin.grantRole({ tenantId, clientId, resource: DEMO_RESOURCE, role: 'Blob.Read' }, m, o, cb), { metadata });
    const seed: DemoSeed = { tenantId, clientId, resource: DEMO_RESOURCE, keyFile };
    writeFileSync(seedFile, `${JSON.stringify(seed, null, 2)}\n`);
    return seed;
  } finally {
    admin.close();
  }
}

/** The command that gets a token for the demo workload through the eastus gateway. */
export function tokenCommand(seed: DemoSeed, endpoint: string, issuer?: string): string {
  const withIssuer = issuer === undefined || issuer === '' ? '' : ` --issuer ${issuer}`;
  return `npx authmesh token --tenant ${seed.tenantId} --client ${seed.clientId} --key ${seed.keyFile} --scope ${seed.resource}/.default --endpoint ${endpoint}${withIssuer}`;
}
