import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../../lib/clock/index.js';
import { silentLogger } from '../../../lib/log/index.js';
import { nextKeyFile, RotatingSigningKey, startKeyRotation, TokenSigner } from '../../../lib/token/index.js';

describe('RotatingSigningKey', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'rotating-key-'));
    file = path.join(dir, 'signing-key.pem');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const HOUR = 3_600_000;

  it('is due once the key is as old as rotate-after, never with 0', async () => {
    const clock = new ManualClock(Date.now());
    const keys = await RotatingSigningKey.load(file, 'global', HOUR, clock);
    clock.set(keys.createdAtMs);
    assert.equal(keys.due(), false);
    clock.advance(HOUR);
    assert.equal(keys.due(), true);
    const never = await RotatingSigningKey.load(file, 'global', 0, clock);
    clock.advance(1000 * HOUR);
    assert.equal(never.due(), false);
  });

  it('signs with the new key only once global has it, and keeps it on disk as the key in use', async () => {
    const clock = new ManualClock(Date.now());
    const keys = await RotatingSigningKey.load(file, 'global', HOUR, clock);
    clock.set(keys.createdAtMs);
    const old = keys.current;
    clock.advance(HOUR);
    let seenWhileRegistering: string | undefined;
    const published: string[] = [];
    const next = await keys.rotate(async (signer: TokenSigner) => {
      seenWhileRegistering = keys.current.kid;
      published.push(signer.kid);
      return true;
    });
    assert.ok(next !== undefined);
    assert.notEqual(next.kid, old.kid);
    assert.equal(seenWhileRegistering, old.kid, 'the old key signs until global answers');
    assert.deepEqual(published, [next.kid]);
    assert.equal(keys.current.kid, next.kid);
    assert.equal(keys.createdAtMs, clock.now());
    assert.equal(keys.due(), false);
    assert.equal(existsSync(nextKeyFile(file)), false);
    assert.equal((await TokenSigner.fromPem(readFileSync(file, 'utf8'), 'global')).kid, next.kid);
    assert.equal(statSync(file).mode & 0o077, 0);
    const reloaded = await RotatingSigningKey.load(file, 'global', HOUR, clock);
    assert.equal(reloaded.current.kid, next.kid, 'a restart signs with the rotated key');
  });

  it('keeps the old key while global cannot be reached, and resumes with the same new key after a restart', async () => {
    const clock = new ManualClock(Date.now());
    const keys = await RotatingSigningKey.load(file, 'global', HOUR, clock);
    clock.set(keys.createdAtMs);
    const old = keys.current.kid;
    clock.advance(HOUR);
    let tried: string | undefined;
    assert.equal(await keys.rotate(async (signer: TokenSigner) => {
      tried = signer.kid;
      return false;
    }), undefined);
    assert.equal(keys.current.kid, old);
    assert.equal(nextKeyFile(file), path.join(dir, 'signing-key.next.pem'));
    assert.ok(existsSync(nextKeyFile(file)), 'the new key waits on disk');
    // After a restart the rotation is due at once, whatever the key's age, and uses the same key.
    const restarted = await RotatingSigningKey.load(file, 'global', 0, new ManualClock(Date.now()));
    assert.equal(restarted.current.kid, old);
    assert.equal(restarted.due(), true);
    const next = await restarted.rotate(async () => true);
    assert.equal(next?.kid, tried);
  });

  it('runs one rotation at a time', async () => {
    const clock = new ManualClock(Date.now());
    const keys = await RotatingSigningKey.load(file, 'global', HOUR, clock);
    clock.set(keys.createdAtMs);
    clock.advance(HOUR);
    let release: (ok: boolean) => void = () => undefined;
    let registering: () => void = () => undefined;
    const called = new Promise<void>((r) => (registering = r));
    const first = keys.rotate(() => {
      registering();
      return new Promise<boolean>((r) => (release = r));
    });
    await called;
    assert.equal(keys.due(), false, 'not due while one is under way');
    assert.equal(await keys.rotate(async () => true), undefined);
    release(true);
    assert.ok((await first) !== undefined);
  });
  describe('startKeyRotation', () => {
    const published = (): { seen: string[]; register: (next: TokenSigner) => Promise<boolean>; called: Promise<void> } => {
      const seen: string[] = [];
      let called: () => void = () => undefined;
      const first = new Promise<void>((r) => (called = r));
      return {
        seen,
        called: first,
        register: async (next) => {
          seen.push(next.kid);
          called();
          return true;
        },
      };
    };

    it('publishes a due key at once but signs with it only after the grace', async () => {
      const clock = new ManualClock(Date.now());
      const keys = await RotatingSigningKey.load(file, 'global', HOUR, clock);
      clock.set(keys.createdAtMs + HOUR);
      const old = keys.current.kid;
      const p = published();
      const rotation = startKeyRotation(keys, p.register, silentLogger(), 60_000);
      try {
        await p.called;
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(p.seen.length, 1);
        assert.equal(keys.current.kid, old, 'still the old key during the grace');
      } finally {
        rotation.stop();
      }
    });

    it('finishes an interrupted rotation at once, without the grace', async () => {
      const clock = new ManualClock(Date.now());
      const first = await RotatingSigningKey.load(file, 'global', 0, clock);
      await first.rotate(async () => false);
      const restarted = await RotatingSigningKey.load(file, 'global', 0, clock);
      assert.equal(restarted.interrupted(), true);
      const p = published();
      const rotation = startKeyRotation(restarted, p.register, silentLogger(), 60_000);
      try {
        const deadline = Date.now() + 5000;
        while (restarted.current.kid !== p.seen[0] && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        assert.equal(restarted.current.kid, p.seen[0]);
        assert.equal(restarted.interrupted(), false);
      } finally {
        rotation.stop();
      }
    });
  });
});
