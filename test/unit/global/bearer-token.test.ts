import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BEARER_TOKEN_PREFIX, loadOrCreateBearerToken } from '../../../services/global/auth.js';

describe('loadOrCreateBearerToken', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-token-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('creates tokens no command line can take for a flag, private to the owner, and keeps them', () => {
    // base64url starts with '-' once in 64 tokens: `--admin-token -x…` would then be refused.
    for (let i = 0; i < 200; i += 1) {
      const file = path.join(dir, `token-${i}`);
      const token = loadOrCreateBearerToken(file);
      assert.ok(token.startsWith(BEARER_TOKEN_PREFIX), token.slice(0, 4));
      assert.match(token, /^amt_[A-Za-z0-9_-]{43}$/);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.equal(loadOrCreateBearerToken(file), token, 'a second start reads the same token');
    }
  });

  it('uses a token already in the file as it is, and refuses one too short to be a secret', () => {
    const kept = path.join(dir, 'kept');
    fs.writeFileSync(kept, '-an-older-token-without-the-prefix\n');
    assert.equal(loadOrCreateBearerToken(kept), '-an-older-token-without-the-prefix');
    const short = path.join(dir, 'short');
    fs.writeFileSync(short, 'abc\n');
    assert.throws(() => loadOrCreateBearerToken(short), /does not hold a usable token/);
  });
});
