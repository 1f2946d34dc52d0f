import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../../lib/clock/index.js';
import { tokenFileReader } from '../../../lib/grpc/index.js';

describe('tokenFileReader', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'authmesh-token-file-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the file once written, re-reads it after the refresh interval, and keeps the last token while it is gone', () => {
    const file = path.join(dir, 'mesh-token');
    const clock = new ManualClock();
    const read = tokenFileReader(file, 5000, clock);
    assert.equal(read(), undefined, 'nothing before the file exists');
    writeFileSync(file, 'amt_first\n');
    assert.equal(read(), undefined, 'not read again within the interval');
    clock.advance(5000);
    assert.equal(read(), 'amt_first', 'trimmed');
    writeFileSync(file, 'amt_second');
    clock.advance(4999);
    assert.equal(read(), 'amt_first');
    clock.advance(1);
    assert.equal(read(), 'amt_second');
    unlinkSync(file);
    clock.advance(5000);
    assert.equal(read(), 'amt_second', 'a missing file keeps the last token');
    writeFileSync(file, '   ');
    clock.advance(5000);
    assert.equal(read(), 'amt_second', 'so does an empty one');
  });
});
