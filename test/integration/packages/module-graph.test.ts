import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DIST } from '../../support/spawn-service.js';
import { LIBRARY_FILES, LIBRARY_PACKAGES, loadedModules } from '../../support/module-graph.js';

const REPO = path.resolve(DIST, '..');

/** A file no library may load: services, gateway, CLI, and the server halves of lib/. */
const SERVER_CODE = /^(services|gateway|cli|scripts|bench)\/|^lib\/(grpc\/(serve|relay|unary|bearer-check|mesh-tls|member-token)|token\/(issue-token|token-service|token-signer|rotating-key|verify-assertion)|tls|telemetry|log|backup|directory|fault|admission)/;

const ENTRIES = [
  { name: '@authmesh/client (package build)', root: path.join(REPO, 'client', 'dist'), entry: 'client/index.js' },
  { name: '@authmesh/verifier (package build)', root: path.join(REPO, 'verifier', 'dist'), entry: 'verifier/index.js' },
  { name: 'client (root build, as the services load it)', root: DIST, entry: 'client/index.js' },
  { name: 'verifier (root build, as the services load it)', root: DIST, entry: 'verifier/index.js' },
];

describe('client and verifier module graphs', () => {
  for (const { name, root, entry } of ENTRIES) {
    it(`${name} loads no server code and no npm package beyond gRPC, jose and the protobuf runtime`, function () {
      if (!existsSync(path.join(root, entry))) assert.fail(`${path.join(root, entry)} is missing: run make build`);
      const graph = loadedModules(path.join(root, entry), root, REPO);
      const server = graph.files.filter((f) => SERVER_CODE.test(f));
      assert.deepEqual(server, [], `server code loaded by ${entry}`);
      const stray = graph.files.filter((f) => !LIBRARY_FILES.some((r) => r.test(f)));
      assert.deepEqual(stray, [], `files outside the library's own loaded by ${entry}`);
      assert.deepEqual(graph.packages.filter((p) => !LIBRARY_PACKAGES.includes(p)), [], `packages loaded by ${entry}`);
      assert.ok(graph.packages.includes('@grpc/grpc-js') && graph.files.includes(entry), `the graph of ${entry} was not read: ${JSON.stringify(graph)}`);
    });
  }
});
