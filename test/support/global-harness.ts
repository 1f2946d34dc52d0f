import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { credentials, Metadata, type Client, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js';
import { AdminServiceClient } from '../../gen/authmesh/admin/v1/admin.js';
import { DirectoryServiceClient } from '../../gen/authmesh/directory/v1/directory.js';
import { TokenServiceClient } from '../../gen/authmesh/token/v1/token.js';
import { systemClock, type Clock } from '../../lib/clock/index.js';
import { silentLogger } from '../../lib/log/index.js';
import { DEFAULT_ISSUER } from '../../lib/token/index.js';
import { startGlobal, type GlobalServer } from '../../services/global/global-server.js';
import { bearer } from '../../lib/grpc/index.js';

/** A global authority running in this process on 127.0.0.1:0, with clients for its services. */
export interface TestGlobal {
  server: GlobalServer;
  dataDir: string;
  admin: InstanceType<typeof AdminServiceClient>;
  directory: InstanceType<typeof DirectoryServiceClient>;
  token: InstanceType<typeof TokenServiceClient>;
  /** `authorization: Bearer <admin token>`. */
  adminAuth: Metadata;
  /** `authorization: Bearer <member token of regional-eastus>`: a regional's development credential. */
  meshAuth: Metadata;
  close(): Promise<void>;
}

export { bearer };

export interface TestGlobalOptions {
  heartbeatMs?: number;
  clock?: Clock;
  dataDir?: string;
  /** A postgres:// URL (with `storePasswordFile`), or absent for SQLite in the data dir. */
  store?: string;
  storePasswordFile?: string;
  instance?: string;
  backupIntervalMs?: number;
}

export async function startTestGlobal(options: TestGlobalOptions = {}): Promise<TestGlobal> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-global-'));
  const server = await startGlobal({
    listen: '127.0.0.1:0',
    dataDir,
    issuer: DEFAULT_ISSUER,
    tokenLifetimeMs: 3_600_000,
    watchHeartbeatMs: options.heartbeatMs ?? 5000,
    usageFlushMs: 50,
    snapshotIdentities: 5000,
    clock: options.clock ?? systemClock,
    log: silentLogger(),
    ...(options.store === undefined ? {} : { store: options.store }),
    ...(options.storePasswordFile === undefined ? {} : { storePasswordFile: options.storePasswordFile }),
    ...(options.instance === undefined ? {} : { instance: options.instance }),
    ...(options.backupIntervalMs === undefined ? {} : { backupIntervalMs: options.backupIntervalMs }),
  });
  const insecure = credentials.createInsecure();
  const admin = new AdminServiceClient(server.address, insecure);
  const directory = new DirectoryServiceClient(server.address, insecure);
  const token = new TokenServiceClient(server.address, insecure);
  return {
    server,
    dataDir,
    admin,
    directory,
    token,
    adminAuth: bearer(server.adminToken),
    meshAuth: bearer(server.memberToken('regional-eastus')),
    async close() {
      for (const c of [admin, directory, token]) c.close();
      await server.stop(1000);
      if (options.dataDir === undefined) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

type Callback<Res> = (err: ServiceError | null, res: Res) => void;

/**
 * Fills the fields a test leaves out with their proto defaults (the generated encoders expect
 * every field), by decoding an empty message of the method's request type.
 */
export function withDefaults(client: Client, method: string, request: object): object {
  const service = (client.constructor as unknown as { service: ServiceDefinition }).service;
  const def = service[method];
  if (def === undefined) throw new Error(`no method ${method}`);
  return { ...(def.requestDeserialize(Buffer.alloc(0)) as object), ...request };
}

/** Calls a unary method of a generated client and resolves with the response. */
export function call<Res>(client: Client, method: string, request: object, metadata: Metadata = new Metadata()): Promise<Res> {
  const fn = (client as unknown as Record<string, (req: object, md: Metadata, opts: object, cb: Callback<Res>) => void>)[method];
  if (fn === undefined) throw new Error(`no method ${method}`);
  return new Promise((resolve, reject) => {
    fn.call(client, withDefaults(client, method, request), metadata, { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** Calls a unary method that must fail, and resolves with its error. */
export async function callError(client: Client, method: string, request: object, metadata?: Metadata): Promise<ServiceError> {
  try {
    await call(client, method, request, metadata);
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error(`${method} succeeded but was expected to fail`);
}
