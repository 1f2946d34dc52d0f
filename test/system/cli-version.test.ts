import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DIST } from '../support/spawn-service.js';

const BIN = path.resolve(DIST, '..', 'bin', 'authmesh.js');

describe('authmesh --version (system)', () => {
  const version = (JSON.parse(fs.readFileSync(path.resolve(DIST, '..', 'package.json'), 'utf8')) as { version: string }).version;

  for (const flag of ['--version', '-V']) {
    it(`prints the package version and exits 0 on ${flag}`, () => {
      const r = spawnSync(process.execPath, [BIN, flag], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `${version}\n`);
    });
  }
});
