import { ConfigError, oneOf } from '../config/index.js';
import type { MeshCertFiles } from './mesh-certs.js';

/**
 * Options every mesh process takes for mutual TLS between mesh members (each also read from
 * AUTHMESH_<NAME>). With none of the three files, development mode keeps plaintext and bearer
 * tokens; production mode refuses to start without them.
 */
export const MESH_TLS_OPTIONS = {
  mode: {
    type: 'string',
    describe: 'development (plaintext with bearer tokens when no mesh certificate is set) or production (mutual TLS required)',
    default: 'development',
    check: oneOf('development', 'production'),
  },
  'mesh-ca': { type: 'string', describe: 'PEM file of the mesh CA; with --mesh-cert and --mesh-key turns on mutual TLS for every mesh hop', default: '' },
  'mesh-cert': { type: 'string', describe: 'PEM certificate of this process, signed by the mesh CA, naming it as spiffe://authmesh.local/<name>', default: '' },
  'mesh-key': { type: 'string', describe: 'PEM private key of --mesh-cert', default: '' },
} as const;

/** The parsed values of {@link MESH_TLS_OPTIONS}. */
export interface MeshTlsConfig {
  readonly mode: string;
  readonly 'mesh-ca': string;
  readonly 'mesh-cert': string;
  readonly 'mesh-key': string;
}

/**
 * The mesh certificate files, undefined for plaintext (development only). Throws a ConfigError
 * when only some are set, or in production mode without them.
 */
export function meshTlsFiles(config: MeshTlsConfig): MeshCertFiles | undefined {
  const set = [config['mesh-ca'], config['mesh-cert'], config['mesh-key']].filter((v) => v !== '').length;
  if (set === 3) return { ca: config['mesh-ca'], cert: config['mesh-cert'], key: config['mesh-key'] };
  if (set > 0) throw new ConfigError(['--mesh-ca, --mesh-cert and --mesh-key (AUTHMESH_MESH_CA, AUTHMESH_MESH_CERT, AUTHMESH_MESH_KEY) go together']);
  if (config.mode === 'production') {
    throw new ConfigError([
      'production mode requires mutual TLS inside the mesh: set --mesh-ca, --mesh-cert and --mesh-key ' +
        '(AUTHMESH_MESH_CA, AUTHMESH_MESH_CERT, AUTHMESH_MESH_KEY), or run with --mode development',
    ]);
  }
  return undefined;
}
