/** IdTable: a table of calls in flight, and what it leaves the garbage collector after a full collection. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { IdTable } from '../../../lib/runtime/id-table.js';

const ID_TABLE_JS = path.resolve(__dirname, '..', '..', '..', 'lib', 'runtime', 'id-table.js');

/**
 * Run in a child with --expose-gc --trace-gc-nvp: 64 calls in flight on a long-lived table (each
 * call a few KB of objects, forgotten 64 calls after it came), one full collection, then 300,000
 * more calls. V8 prints each scavenge's promoted bytes; the child prints their sum after the
 * full collection.
 */
const CHURN = (table: 'Map' | 'IdTable'): string => `
  const { IdTable } = require(${JSON.stringify(ID_TABLE_JS)});
  const table = ${table === 'Map' ? 'new Map()' : 'new IdTable()'};
  const call = (id) => ({ id, parts: Array.from({ length: 30 }, (_, k) => ({ k, s: 'part ' + k })) });
  let id = 1;
  const churn = (n) => { for (let i = 0; i < n; i += 1, id += 1) { table.set(id, call(id)); if (id > 64) table.delete(id - 64); } };
  churn(100000);
  globalThis.gc();
  process.stdout.write('\\nFULL-GC-DONE\\n');
  churn(300000);
`;

/** Bytes the scavenges after the full collection promoted into the old generation, with `table` holding the calls. */
function promotedAfterFullGc(table: 'Map' | 'IdTable'): number {
  const out = execFileSync(process.execPath, ['--expose-gc', '--trace-gc-nvp', '--max-semi-space-size=8', '-e', CHURN(table)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const after = out.slice(out.indexOf('FULL-GC-DONE'));
  let promoted = 0;
  for (const m of after.matchAll(/gc=s .*? promoted=(\d+)/g)) promoted += Number(m[1]);
  return promoted;
}

describe('IdTable', () => {
  it('gets, replaces, deletes and counts entries by id', () => {
    const t = new IdTable<string>();
    t.set(3, 'c');
    t.set(1, 'a');
    t.set(3, 'C');
    assert.equal(t.size, 2);
    assert.equal(t.get(3), 'C');
    assert.equal(t.get(2), undefined);
    assert.equal(t.delete(2), false);
    assert.equal(t.delete(1), true);
    assert.equal(t.delete(1), false);
    assert.equal(t.size, 1);
    assert.deepEqual(t.values(), ['C']);
    t.clear();
    assert.equal(t.size, 0);
    assert.equal(t.get(3), undefined);
  });

  it('holds ids from 1 to 2^32-1 and lists values in ascending id order, a copy that deleting while walking does not change', () => {
    const t = new IdTable<number>();
    for (const id of [0xffff_ffff, 7, 0x7fff_ffff, 1, 0xffff_fffe]) t.set(id, id);
    const values = t.values();
    assert.deepEqual(values, [1, 7, 0x7fff_ffff, 0xffff_fffe, 0xffff_ffff]);
    for (const v of values) t.delete(v);
    assert.equal(t.size, 0);
    assert.deepEqual(values.length, 5);
  });

  it('lets calls that left it die young after a full collection, where a Map has the scavenges promote them', function () {
    this.timeout(120_000);
    const map = promotedAfterFullGc('Map');
    const table = promotedAfterFullGc('IdTable');
    console.log(`      promoted by scavenges after one full collection, 300,000 calls: Map ${(map / 1e6).toFixed(1)} MB, IdTable ${(table / 1e6).toFixed(1)} MB`);
    // The anchor: with a Map the effect this table exists to avoid shows, or the test proves nothing.
    assert.ok(map > 100e6, `a Map had only ${map} B promoted: the churn no longer shows the effect`);
    assert.ok(table < map / 20, `IdTable had ${table} B promoted, a Map ${map} B`);
  });
});
