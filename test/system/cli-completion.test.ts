import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { DIST } from '../support/spawn-service.js';

const BIN = path.resolve(DIST, '..', 'bin', 'authmesh.js');

/** Runs the completion function the way bash does on Tab, and returns its candidates. */
function complete(words: string[]): string[] {
  const script = spawnSync(process.execPath, [BIN, 'completion', 'bash'], { encoding: 'utf8' });
  assert.equal(script.status, 0, script.stderr);
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', `eval "$AUTHMESH_COMPLETION"; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _authmesh; printf '%s\\n' "\${COMPREPLY[@]}"; complete -p authmesh`], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', AUTHMESH_COMPLETION: script.stdout },
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(lines.pop()!, /complete .*-F _authmesh authmesh/, 'the script registers itself for authmesh');
  return lines.filter((l) => l !== '');
}

describe('authmesh completion (system, real bash)', function () {
  this.timeout(30_000);

  it('completes a command from its first letters', () => {
    assert.deepEqual(complete(['authmesh', 'ap']), ['app', 'apply']);
    assert.deepEqual(complete(['authmesh', 'comp']), ['completion']);
  });

  it('completes the subcommands of a command, including list and delete', () => {
    assert.deepEqual(complete(['authmesh', 'app', '']).sort(), ['allow-reuse', 'create', 'delete', 'disable', 'enable', 'list', 'refuse-reuse', 'show']);
    assert.deepEqual(complete(['authmesh', 'resource', 'd']), ['delete']);
  });

  it('completes the flags of one command', () => {
    assert.deepEqual(complete(['authmesh', 'status', '--wa']), ['--watch']);
    assert.deepEqual(complete(['authmesh', 'apply', '--dr']), ['--dry-run']);
    assert.deepEqual(complete(['authmesh', 'app', 'delete', '--cl']), ['--client']);
  });

  it('prints a zsh script that registers the same commands', () => {
    const r = spawnSync(process.execPath, [BIN, 'completion', 'zsh'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^#compdef authmesh/);
    assert.match(r.stdout, /compadd -- tenant app cred resource .*apply .*status .*completion/);
    assert.match(r.stdout, /app\) subs=\([^)]*\bdelete\b[^)]*\)/);
    assert.match(r.stdout, /compdef _authmesh authmesh/);
  });

  it('exits 2 naming the shells when the shell is not bash or zsh', () => {
    const r = spawnSync(process.execPath, [BIN, 'completion'], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /bash or zsh/);
  });
});
