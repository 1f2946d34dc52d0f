import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DIST, sleep } from '../../support/spawn-service.js';

/**
 * A harness that starts the echo anchor through spawnService, prints the anchor's PID once it
 * listens, and then dies of an uncaught error without stopping it.
 */
const DYING_HARNESS = `
const { spawnService } = require(${JSON.stringify(path.join(DIST, 'test', 'support', 'spawn-service.js'))});
const echo = spawnService('echo', 'bench/anchors/echo-server.js', ['--mode', 'echo']);
const poll = setInterval(() => {
  if (!echo.output.some((l) => l.includes('"listening"'))) return;
  clearInterval(poll);
  console.log(JSON.stringify({ pid: echo.pid }));
  setImmediate(() => { throw new Error('harness dies'); });
}, 20);
`;

/** Whether `pid` is a process that has not exited (an exited child not yet reaped counts as gone). */
function running(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  // The state follows the command name, which is in parentheses and may itself hold spaces.
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

describe('spawnService', () => {
  it('kills the services it started when the process that started them dies without stopping them', async () => {
    const harness = spawn(process.execPath, ['-e', DYING_HARNESS], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    harness.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    harness.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => harness.once('exit', (c) => resolve(c)));
    assert.equal(code, 1, `the harness should die of its error; stderr: ${err}`);
    assert.match(err, /harness dies/);
    const pid = (JSON.parse(out.trim().split('\n').pop()!) as { pid: number }).pid;
    const deadline = Date.now() + 5000;
    while (running(pid) && Date.now() < deadline) await sleep(20);
    const left = running(pid);
    // Started (through the harness) by this test: ended here by its PID if the harness left it.
    if (left) process.kill(pid, 'SIGKILL');
    console.log(`      echo anchor ${pid} ${left ? 'still running 5 s after its harness died' : 'gone once its harness died'}`);
    assert.equal(left, false, 'the echo anchor outlived the harness that started it');
  });
});
