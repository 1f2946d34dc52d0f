import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SERVICE_NODE_FLAGS } from '../../../lib/runtime/node-flags.js';
import { spawnService } from '../../support/spawn-service.js';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..', '..');

/** Allocates short-lived objects for a while, then prints the young generation's size in bytes. */
const ALLOCATE = `
  const v8 = require('node:v8');
  let keep = [];
  for (let i = 0; i < 4e6; i += 1) { keep.push({ i, s: 'x' + i }); if (keep.length > 200000) keep = []; }
  process.stdout.write(String(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size));
`;

describe('service node flags', () => {
  it('keep the young generation at 16 MB or less under allocation, on the command line and in NODE_OPTIONS', function () {
    this.timeout(60_000);
    const onCommandLine = Number(execFileSync(process.execPath, [...SERVICE_NODE_FLAGS, '-e', ALLOCATE], { encoding: 'utf8' }));
    const inNodeOptions = Number(execFileSync(process.execPath, ['-e', ALLOCATE], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: SERVICE_NODE_FLAGS.join(' ') } }));
    console.log(`      young generation: ${onCommandLine} B with the flags on the command line, ${inNodeOptions} B in NODE_OPTIONS`);
    for (const size of [onCommandLine, inNodeOptions]) {
      assert.ok(size > 0 && size <= 16 * 1024 * 1024, `young generation grew to ${size} B`);
    }
  });

  it('are what the container image sets as NODE_OPTIONS', () => {
    const line = readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8').split('\n').find((l) => l.startsWith('ENV NODE_OPTIONS='));
    assert.equal(line, `ENV NODE_OPTIONS=${SERVICE_NODE_FLAGS.join(' ')}`);
  });

  it('are on the command line of every process the harness starts, before flags given for one run', async () => {
    const entry = 'bench/anchors/echo-server.js';
    const svc = spawnService('flags-probe', entry, ['--mode', 'echo'], { AUTHMESH_NODE_FLAGS: '--max-semi-space-size=4' });
    try {
      // Until the child has exec'd node, /proc shows the parent's command line.
      let argv: string[] = [];
      for (let i = 0; i < 100 && !argv.some((a) => a.endsWith(entry)); i += 1) {
        argv = readFileSync(`/proc/${svc.pid}/cmdline`, 'utf8').split('\0');
        await new Promise((r) => setTimeout(r, 20));
      }
      const mesh = argv.indexOf(SERVICE_NODE_FLAGS[0]!);
      assert.ok(mesh > 0, `no ${SERVICE_NODE_FLAGS[0]} in ${argv.join(' ')}`);
      assert.ok(argv.indexOf('--max-semi-space-size=4') > mesh, 'a per-run flag does not come after the mesh flags');
    } finally {
      await svc.stop(5000);
    }
  });
});
