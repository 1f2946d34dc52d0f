import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SERVICE_NODE_FLAGS } from '../../../lib/runtime/node-flags.js';

const DIST = path.resolve(__dirname, '..', '..', '..');
const TUNING = path.join(DIST, 'lib', 'runtime', 'v8-tuning.js');

/**
 * Keeps 3 million objects from one allocation site alive and prints how many scavenges that took.
 * With allocation-site pretenuring V8 soon allocates them straight in the old generation, so the
 * young generation fills, and is scavenged, far less often.
 */
const SURVIVORS = `
  const { PerformanceObserver, constants } = require('node:perf_hooks');
  let scavenges = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MINOR) scavenges += 1;
  }).observe({ entryTypes: ['gc'] });
  const make = (i) => ({ i, next: null });
  const keep = [];
  for (let i = 0; i < 3e6; i += 1) keep.push(make(i));
  setTimeout(() => process.stdout.write(String(scavenges)), 200);
`;

const scavenges = (extra: string[]): number => Number(execFileSync(process.execPath, [...SERVICE_NODE_FLAGS, ...extra, '-e', SURVIVORS], { encoding: 'utf8' }));

describe('service V8 settings', () => {
  it('turn off allocation-site pretenuring: objects that outlive a scavenge keep being allocated young', function () {
    this.timeout(60_000);
    const plain = scavenges([]);
    const tuned = scavenges(['--require', TUNING]);
    console.log(`      3 million surviving objects: ${plain} scavenges with V8's defaults, ${tuned} with the service settings`);
    assert.ok(plain > 0, 'no scavenge observed at all');
    assert.ok(tuned >= 1.8 * plain, `with pretenuring off the young generation fills as often as before: ${tuned} vs ${plain} scavenges`);
  });

  it('are the first thing every service entry point loads', () => {
    for (const entry of ['gateway/main.js', 'services/regional/main.js', 'services/global/main.js', 'services/backup/main.js']) {
      const source = readFileSync(path.join(DIST, entry), 'utf8');
      const first = /require\("([^"]+)"\)/.exec(source);
      assert.ok(first !== null, `${entry} requires nothing`);
      assert.equal(path.resolve(path.dirname(path.join(DIST, entry)), first[1]!), TUNING, `${entry} loads ${first[1]} first`);
    }
  });
});
