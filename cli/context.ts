import { credentials } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AdminServiceClient } from '../gen/authmesh/admin/v1/admin.js';
import { TokenServiceClient } from '../gen/authmesh/token/v1/token.js';
import { bearer } from '../lib/grpc/index.js';
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
    return optional(this.flags, 'admin') ?? this.env.AUTHMESH_ADMIN_ENDPOINT ?? DEFAULT_GLOBAL;
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

  admin(): { client: InstanceType<typeof AdminServiceClient>; metadata: ReturnType<typeof bearer> } {
    return { client: new AdminServiceClient(this.adminAddress(), credentials.createInsecure()), metadata: bearer(this.adminToken()) };
  }

  /** The token endpoint: --endpoint, AUTHMESH_ENDPOINT, or the local eastus gateway. */
  tokenEndpoint(): string {
    return optional(this.flags, 'endpoint') ?? this.env.AUTHMESH_ENDPOINT ?? DEFAULT_GATEWAY;
  }

  tokenClient(): InstanceType<typeof TokenServiceClient> {
    return new TokenServiceClient(this.tokenEndpoint(), credentials.createInsecure());
  }
}
