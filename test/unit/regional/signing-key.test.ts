import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../../lib/clock/index.js';
import { TokenSigner } from '../../../lib/token/index.js';
import {
  loadRegionSigner,
  NEXT_SIGNING_KEY_FILE,
  ownSigningKey,
  publishedKeys,
  RegionSigningKeys,
  registerUntilDone,
  SIGNING_KEY_FILE,
} from '../../../services/regional/signing-key.js';
import { FakeDirectory } from '../../support/fake-directory.js';
import { settle, StepSleep } from './step-sleep.js';

describe('region signing key', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'regional-key-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('is generated once in the data dir, private to its owner, and reloaded after', async () => {
    const first = await loadRegionSigner(dir, 'eastus');
    const again = await loadRegionSigner(dir, 'eastus');
    assert.equal(first.kid, again.kid);
    assert.equal(first.domain, 'regional/eastus');
    assert.equal(statSync(path.join(dir, SIGNING_KEY_FILE)).mode & 0o077, 0);
    assert.equal((first.publicJwk as Record<string, unknown>).d, undefined);
  });

  it('registers only the public key, retrying until global answers', async () => {
    const signer = await loadRegionSigner(dir, 'eastus');
    const global = new FakeDirectory();
    global.reachable = false;
    const sleeper = new StepSleep();
    const done = registerUntilDone({ source: global, signer, isKnown: () => false, signal: new AbortController().signal, sleep: sleeper.sleep, random: () => 0 });
    await sleeper.sleeping();
    sleeper.wake();
    await sleeper.sleeping();
    global.reachable = true;
    sleeper.wake();
    assert.equal(await done, true);
    assert.equal(global.calls.registerSigningKey.length, 3);
    const sent = global.calls.registerSigningKey.at(-1)!;
    assert.equal(sent.domain, 'regional/eastus');
    assert.equal((JSON.parse(sent.publicJwkJson) as Record<string, unknown>).d, undefined);
  });

  it('does not register a key global already lists', async () => {
    const signer = await loadRegionSigner(dir, 'eastus');
    const global = new FakeDirectory();
    assert.equal(await registerUntilDone({ source: global, signer, isKnown: () => true, signal: new AbortController().signal }), true);
    assert.equal(global.calls.registerSigningKey.length, 0);
  });

  it('stops retrying when aborted', async () => {
    const signer = await loadRegionSigner(dir, 'eastus');
    const global = new FakeDirectory();
    global.reachable = false;
    const controller = new AbortController();
    const sleeper = new StepSleep();
    const done = registerUntilDone({ source: global, signer, isKnown: () => false, signal: controller.signal, sleep: sleeper.sleep });
    await sleeper.sleeping();
    controller.abort();
    await settle();
    assert.equal(await done, false);
  });

  it('publishes its own key alongside the directory keys, once', async () => {
    const signer = await loadRegionSigner(dir, 'eastus');
    const own = ownSigningKey(signer, 0);
    const other = { kid: 'global-1', domain: 'global', publicJwkJson: '{}', createdAtMs: 0, retiredAtMs: 0 };
    assert.deepEqual(publishedKeys([other], own).map((k) => k.kid), ['global-1', signer.kid]);
    assert.deepEqual(publishedKeys([other, own], own).map((k) => k.kid), ['global-1', signer.kid]);
  });
  describe('rotation', () => {
    const HOUR = 3_600_000;

    it('is due once the key is as old as rotate-after, never with 0', async () => {
      const clock = new ManualClock(Date.now());
      const keys = await RegionSigningKeys.load(dir, 'eastus', HOUR, clock);
      clock.set(keys.createdAtMs);
      assert.equal(keys.due(), false);
      clock.advance(HOUR);
      assert.equal(keys.due(), true);
      const never = await RegionSigningKeys.load(dir, 'eastus', 0, clock);
      clock.advance(1000 * HOUR);
      assert.equal(never.due(), false);
    });

    it('signs with the new key only once global has it, and keeps it on disk as the key in use', async () => {
      const clock = new ManualClock(Date.now());
      const keys = await RegionSigningKeys.load(dir, 'eastus', HOUR, clock);
      clock.set(keys.createdAtMs);
      const old = keys.current;
      clock.advance(HOUR);
      let seenWhileRegistering: string | undefined;
      const published: string[] = [];
      const next = await keys.rotate(async (signer) => {
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
      assert.equal(existsSync(path.join(dir, NEXT_SIGNING_KEY_FILE)), false);
      assert.equal((await TokenSigner.fromPem(readFileSync(path.join(dir, SIGNING_KEY_FILE), 'utf8'), 'regional/eastus')).kid, next.kid);
      assert.equal(statSync(path.join(dir, SIGNING_KEY_FILE)).mode & 0o077, 0);
      const reloaded = await RegionSigningKeys.load(dir, 'eastus', HOUR, clock);
      assert.equal(reloaded.current.kid, next.kid, 'a restart signs with the rotated key');
    });

    it('keeps the old key while global cannot be reached, and resumes with the same new key after a restart', async () => {
      const clock = new ManualClock(Date.now());
      const keys = await RegionSigningKeys.load(dir, 'eastus', HOUR, clock);
      clock.set(keys.createdAtMs);
      const old = keys.current.kid;
      clock.advance(HOUR);
      let tried: string | undefined;
      assert.equal(await keys.rotate(async (signer) => {
        tried = signer.kid;
        return false;
      }), undefined);
      assert.equal(keys.current.kid, old);
      assert.ok(existsSync(path.join(dir, NEXT_SIGNING_KEY_FILE)), 'the new key waits on disk');
      // After a restart the rotation is due at once, whatever the key's age, and uses the same key.
      const restarted = await RegionSigningKeys.load(dir, 'eastus', 0, new ManualClock(Date.now()));
      assert.equal(restarted.current.kid, old);
      assert.equal(restarted.due(), true);
      const next = await restarted.rotate(async () => true);
      assert.equal(next?.kid, tried);
    });

    it('runs one rotation at a time', async () => {
      const clock = new ManualClock(Date.now());
      const keys = await RegionSigningKeys.load(dir, 'eastus', HOUR, clock);
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
  });
});
