import { execFileSync } from 'node:child_process';
import path from 'node:path';

/** What loading one module pulled in: local files (relative to `root`) and npm packages by name. */
export interface ModuleGraph {
  files: string[];
  packages: string[];
}

/**
 * Loads `entry` in a fresh Node process and reports every module it loaded (its require.cache),
 * so a test can see whether a library reaches code it should not.
 */
export function loadedModules(entry: string, root: string, cwd = root): ModuleGraph {
  const script = `require(${JSON.stringify(entry)}); process.stdout.write(JSON.stringify(Object.keys(require.cache)));`;
  const loaded = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd, encoding: 'utf8' })) as string[];
  const files = new Set<string>();
  const packages = new Set<string>();
  for (const file of loaded) {
    const at = file.lastIndexOf(`${path.sep}node_modules${path.sep}`);
    if (at >= 0) {
      const parts = file.slice(at + 14).split(path.sep);
      packages.add(parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
    } else {
      files.add(path.relative(root, file).split(path.sep).join('/'));
    }
  }
  return { files: [...files].sort(), packages: [...packages].sort() };
}

/** npm packages a client or verifier may load: gRPC, JOSE and the protobuf runtime of the generated messages. */
export const LIBRARY_PACKAGES: readonly string[] = ['@bufbuild/protobuf', '@grpc/grpc-js', '@js-sdsl/ordered-map', 'jose'];

/** Server-side packages none of the shipped libraries may load or install. */
export const SERVER_PACKAGES: readonly string[] = ['better-sqlite3', 'node-forge', '@opentelemetry/sdk-node', 'pino', 'grpc-health-check', 'protobufjs', '@grpc/proto-loader', 'pg', 'opossum'];

/**
 * The repository files a client or verifier may load, relative to the build root: their own
 * folders, the token and agent messages, and the few shared files that hold no server code.
 */
export const LIBRARY_FILES: readonly RegExp[] = [
  /^client\/[\w-]+\.js$/,
  /^verifier\/[\w-]+\.js$/,
  /^gen\/authmesh\/(token|agent)\/v1\/[\w-]+\.js$/,
  /^lib\/clock\/index\.js$/,
  /^lib\/errors\/(index|oauth-error)\.js$/,
  /^lib\/grpc\/status-map\.js$/,
  /^lib\/token\/(build-assertion|constants)\.js$/,
];
