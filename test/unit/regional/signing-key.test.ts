import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../../lib/clock/index.js';
import { loadRegionKeys, ownSigningKey, publishedKeys, registerUntilDone, SIGNING_KEY_FILE } from '../../../services/regional/signing-key.js';
import { FakeDirectory } from '../../support/fake-directory.js';
import { settle, StepSleep } from './step-sleep.js';

describe('region signing key', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'regional-key-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const regionSigner = async (at: string, region: string) => (await loadRegionKeys(at, region, 0, new ManualClock())).current;

  it('is generated once in the data dir, private to its owner, and reloaded after', async () => {
    const first = await regionSigner(dir, 'eastus');
    const again = await regionSigner(dir, 'eastus');
    assert.equal(first.kid, again.kid);
    assert.equal(first.domain, 'regional/eastus');
    assert.equal(statSync(path.join(dir, SIGNING_KEY_FILE)).mode & 0o077, 0);
    assert.equal((first.publicJwk as Record<string, unknown>).d, undefined);
  });

  it('registers only the public key, retrying until global answers', async () => {
    const signer = await regionSigner(dir, 'eastus');
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
    const signer = await regionSigner(dir, 'eastus');
    const global = new FakeDirectory();
    assert.equal(await registerUntilDone({ source: global, signer, isKnown: () => true, signal: new AbortController().signal }), true);
    assert.equal(global.calls.registerSigningKey.length, 0);
  });

  it('stops retrying when aborted', async () => {
    const signer = await regionSigner(dir, 'eastus');
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
    const signer = await regionSigner(dir, 'eastus');
    const own = ownSigningKey(signer, 0);
    const other = { kid: 'global-1', domain: 'global', publicJwkJson: '{}', createdAtMs: 0, retiredAtMs: 0 };
    assert.deepEqual(publishedKeys([other], own).map((k) => k.kid), ['global-1', signer.kid]);
    assert.deepEqual(publishedKeys([other, own], own).map((k) => k.kid), ['global-1', signer.kid]);
  });
});
