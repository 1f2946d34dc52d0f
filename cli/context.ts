import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AdminServiceClient } from '../gen/authmesh/admin/v1/admin.js';
import { TokenServiceClient } from '../gen/authmesh/token/v1/token.js';
import { bearer, meshChannelOptions, meshTarget } from '../lib/grpc/index.js';
import { optional, UsageError, type Flags } from './args.js';

/** Where the local mesh keeps its state, and the default endpoints it listens on. */
export const DEFAULT_MESH_DIR = '.mesh';
export const DEFAULT_GLOBAL = '127.0.0.1:50051';
export const DEFAULT_GATEWAY = '127.0.0.1:50050';

/** Everything a command needs to reach the mesh, resolved from flags, then env, then defaults. */
export class CliContext {
  readonly meshDir: string;
  readonly json: boolean;

  constructor(
    readonly flags: Flags,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.meshDir = optional(flags, 'mesh-dir') ?? env.AUTHMESH_MESH_DIR ?? DEFAULT_MESH_DIR;
    this.json = flags.json === true;
  }

  adminAddress(): string {
    return optional(this.flags, 'admin') ?? optional(this.flags, 'global') ?? this.env.AUTHMESH_ADMIN_ENDPOINT ?? this.env.AUTHMESH_GLOBAL ?? DEFAULT_GLOBAL;
  }

  /** The admin token: flag, env, or the local mesh's `global/admin-token` file. */
  adminToken(): string {
    const explicit = optional(this.flags, 'admin-token') ?? this.env.AUTHMESH_ADMIN_TOKEN;
    if (explicit !== undefined) return explicit;
    const file = path.join(this.meshDir, 'global', 'admin-token');
    try {
      return readFileSync(file, 'utf8').trim();
    } catch {
      throw new UsageError(`no admin token: pass --admin-token, set AUTHMESH_ADMIN_TOKEN, or run the local mesh (reads ${file})`);
    }
  }

  /**
   * Credentials for mesh-internal endpoints (global's admin API, the backup): the certificate in
   * --mesh-ca/--mesh-cert/--mesh-key (or AUTHMESH_MESH_*), else the certificate of `member`
   * (default admin) the local mesh issued under `<mesh dir>/ca/` when it runs with mutual TLS,
   * else plaintext.
   */
  meshCredentials(member = 'admin'): ChannelCredentials {
    const pick = (flag: string, env: string, file: string): string | undefined =>
      optional(this.flags, flag) ?? this.env[env] ?? (existsSync(path.join(this.meshDir, 'ca', file)) ? path.join(this.meshDir, 'ca', file) : undefined);
    const explicit = ['mesh-ca', 'mesh-cert', 'mesh-key'].filter((f) => optional(this.flags, f) !== undefined).length;
    if (explicit > 0 && explicit < 3) throw new UsageError('--mesh-ca, --mesh-cert and --mesh-key go together');
    const ca = pick('mesh-ca', 'AUTHMESH_MESH_CA', 'ca.pem');
    const cert = pick('mesh-cert', 'AUTHMESH_MESH_CERT', `${member}.pem`);
    const key = pick('mesh-key', 'AUTHMESH_MESH_KEY', `${member}-key.pem`);
    if (ca === undefined || cert === undefined || key === undefined) return credentials.createInsecure();
    try {
      return credentials.createSsl(readFileSync(ca), readFileSync(key), readFileSync(cert));
    } catch (err) {
      throw new UsageError(`cannot read the mesh certificate: ${(err as Error).message}`);
    }
  }

  admin(): { client: InstanceType<typeof AdminServiceClient>; metadata: ReturnType<typeof bearer> } {
    const creds = this.meshCredentials();
    return { client: new AdminServiceClient(meshTarget(this.adminAddress()), creds, meshChannelOptions(this.adminAddress(), creds)), metadata: bearer(this.adminToken()) };
  }

  /** The token endpoint: --endpoint, AUTHMESH_ENDPOINT, or the local eastus gateway. */
  tokenEndpoint(): string {
    return optional(this.flags, 'endpoint') ?? this.env.AUTHMESH_ENDPOINT ?? DEFAULT_GATEWAY;
  }

  tokenClient(): InstanceType<typeof TokenServiceClient> {
    return new TokenServiceClient(this.tokenEndpoint(), credentials.createInsecure());
  }
}
