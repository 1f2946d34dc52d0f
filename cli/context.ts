import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { gatewayChannel, type GatewayTlsOptions } from '../client/gateway-tls.js';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AdminServiceClient } from '../gen/authmesh/admin/v1/admin.js';
import { TokenServiceClient } from '../gen/authmesh/token/v1/token.js';
import { bearer, meshChannelCredentials, meshChannelOptions, meshTarget } from '../lib/grpc/index.js';
import { optional, UsageError, type Flags } from './args.js';

/** Where the local mesh keeps its state, and the default endpoints it listens on. */
export const DEFAULT_MESH_DIR = '.mesh';
export const DEFAULT_GLOBAL = '127.0.0.1:50051';
export const DEFAULT_GATEWAY = '127.0.0.1:50050';

/** Everything a command needs to reach the mesh, resolved from flags, then env, then defaults. */
export class CliContext {
  readonly meshDir: string;
  readonly json: boolean;
  /** What the process exits with when the command returns (a command sets 1 for "degraded"). */
  exitCode = 0;

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

  /**
   * The admin token: --admin-token-file / AUTHMESH_ADMIN_TOKEN_FILE, AUTHMESH_ADMIN_TOKEN, the
   * local mesh's `global/admin-token` file, or (deprecated, with a warning: a command line is
   * visible to every user of the host in `ps` and lands in shell history) --admin-token.
   */
  adminToken(): string {
    const flagged = optional(this.flags, 'admin-token');
    if (flagged !== undefined) {
      this.warn('--admin-token puts the admin token on the command line, where other users of this host can read it; use --admin-token-file or AUTHMESH_ADMIN_TOKEN');
      return flagged;
    }
    const named = optional(this.flags, 'admin-token-file') ?? this.env.AUTHMESH_ADMIN_TOKEN_FILE;
    if (named !== undefined) return readSecretFile(named, 'admin token');
    if (this.env.AUTHMESH_ADMIN_TOKEN !== undefined && this.env.AUTHMESH_ADMIN_TOKEN !== '') return this.env.AUTHMESH_ADMIN_TOKEN;
    const file = path.join(this.meshDir, 'global', 'admin-token');
    try {
      return readFileSync(file, 'utf8').trim();
    } catch {
      throw new UsageError(`no admin token: pass --admin-token-file FILE, set AUTHMESH_ADMIN_TOKEN, or run the local mesh (reads ${file})`);
    }
  }

  /** A line on stderr that never goes into --json output. */
  warn(message: string): void {
    process.stderr.write(`authmesh: warning: ${message}\n`);
  }

  /**
   * Credentials for mesh-internal endpoints (global's admin API, the backup): the certificate in
   * --mesh-ca/--mesh-cert/--mesh-key (or AUTHMESH_MESH_*), else the certificate of `member`
   * (default admin) the local mesh issued under `<mesh dir>/ca/` when it runs with mutual TLS,
   * else plaintext.
   */
  meshCredentials(member = 'admin', expectPeer?: string): ChannelCredentials {
    const pick = (flag: string, env: string, file: string): string | undefined =>
      optional(this.flags, flag) ?? this.env[env] ?? (existsSync(path.join(this.meshDir, 'ca', file)) ? path.join(this.meshDir, 'ca', file) : undefined);
    const explicit = ['mesh-ca', 'mesh-cert', 'mesh-key'].filter((f) => optional(this.flags, f) !== undefined).length;
    if (explicit > 0 && explicit < 3) throw new UsageError('--mesh-ca, --mesh-cert and --mesh-key go together');
    const ca = pick('mesh-ca', 'AUTHMESH_MESH_CA', 'ca.pem');
    const cert = pick('mesh-cert', 'AUTHMESH_MESH_CERT', `${member}.pem`);
    const key = pick('mesh-key', 'AUTHMESH_MESH_KEY', `${member}-key.pem`);
    if (ca === undefined || cert === undefined || key === undefined) return credentials.createInsecure();
    try {
      return meshChannelCredentials({ ca: readFileSync(ca), key: readFileSync(key), cert: readFileSync(cert), identity: member }, expectPeer);
    } catch (err) {
      throw new UsageError(`cannot read the mesh certificate: ${(err as Error).message}`);
    }
  }

  admin(): { client: InstanceType<typeof AdminServiceClient>; metadata: ReturnType<typeof bearer> } {
    // The admin API is global's: a certificate naming another mesh member is refused.
    const creds = this.meshCredentials('admin', 'global');
    return { client: new AdminServiceClient(meshTarget(this.adminAddress()), creds, meshChannelOptions(this.adminAddress(), creds)), metadata: bearer(this.adminToken()) };
  }

  /** The token endpoint: --endpoint, AUTHMESH_ENDPOINT, or the local eastus gateway. */
  tokenEndpoint(): string {
    return optional(this.flags, 'endpoint') ?? this.env.AUTHMESH_ENDPOINT ?? DEFAULT_GATEWAY;
  }

  /**
   * TLS to the gateway: --gateway-ca FILE (AUTHMESH_GATEWAY_CA) and --gateway-server-name NAME
   * (AUTHMESH_GATEWAY_SERVER_NAME). Undefined (plaintext) when neither is set, as for the local mesh.
   */
  gatewayTls(): GatewayTlsOptions | undefined {
    const caFile = optional(this.flags, 'gateway-ca') ?? nonEmpty(this.env.AUTHMESH_GATEWAY_CA);
    const serverName = optional(this.flags, 'gateway-server-name') ?? nonEmpty(this.env.AUTHMESH_GATEWAY_SERVER_NAME);
    if (caFile === undefined && serverName === undefined) return undefined;
    return { ...(caFile === undefined ? {} : { caFile }), ...(serverName === undefined ? {} : { serverName }) };
  }

  tokenClient(): InstanceType<typeof TokenServiceClient> {
    const endpoint = this.tokenEndpoint();
    let channel: ReturnType<typeof gatewayChannel>;
    try {
      channel = gatewayChannel(endpoint, this.gatewayTls());
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    return new TokenServiceClient(endpoint, channel.credentials, channel.options);
  }
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

/** The first line of a secret file, or a UsageError naming the file (never its content). */
export function readSecretFile(file: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`cannot read the ${what} from ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  if (text === '') throw new UsageError(`${file} holds no ${what}`);
  return text;
}
