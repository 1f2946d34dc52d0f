import assert from 'node:assert/strict';
import { ManualClock } from '../../../lib/clock/index.js';
import { OAuthError } from '../../../lib/errors/index.js';
import { BackupDirectory } from '../../../services/backup/backup-directory.js';
import { coverageOf } from '../../../services/backup/coverage.js';
import { indexSnapshot } from '../../../services/backup/loaded-snapshot.js';
import { fakeIdentity, syntheticContent } from '../../support/backup-fixtures.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T = '20000000-0000-4000-8000-000000000001';

function refusedWith(reason: string) {
  return (err: unknown): boolean => err instanceof OAuthError && err.code === 'temporarily_unavailable' && err.reason === reason;
}

describe('coverageOf', () => {
  const now = 10 * DAY;
  it('is covered when authenticated within the window with no posture change since', () => {
    assert.equal(coverageOf(fakeIdentity(T, 1, { lastAuthenticatedAtMs: now - DAY, postureChangedAtMs: now - 2 * DAY }), now, 3 * DAY), 'covered');
  });
  it('is never-authenticated when the primary never saw a successful authentication', () => {
    assert.equal(coverageOf(fakeIdentity(T, 1), now, 3 * DAY), 'never-authenticated');
  });
  it('is outside-window when the last authentication is older than the window', () => {
    assert.equal(coverageOf(fakeIdentity(T, 1, { lastAuthenticatedAtMs: now - 4 * DAY }), now, 3 * DAY), 'outside-window');
  });
  it('is posture-changed when a disable or revoke came after the last authentication', () => {
    assert.equal(coverageOf(fakeIdentity(T, 1, { lastAuthenticatedAtMs: now - DAY, postureChangedAtMs: now - DAY + 1 }), now, 3 * DAY), 'posture-changed');
    assert.equal(coverageOf(fakeIdentity(T, 1, { lastAuthenticatedAtMs: now - DAY, postureChangedAtMs: now - DAY }), now, 3 * DAY), 'posture-changed');
  });
});

describe('BackupDirectory', () => {
  const setup = () => {
    const clock = new ManualClock(100 * DAY);
    const content = syntheticContent(2, 7, clock.now(), clock.now() - HOUR);
    content.identities.push(fakeIdentity(T, 99)); // never authenticated
    const snapshot = indexSnapshot('s', content, clock.now());
    const directory = new BackupDirectory({ snapshot: () => snapshot, clock, coverageWindowMs: 3 * DAY, maxStalenessMs: HOUR });
    return { clock, directory, content };
  };

  it('answers a covered identity with the snapshot age when the snapshot is within the bound', async () => {
    const { clock, directory, content } = setup();
    clock.advance(10 * 60_000);
    const r = await directory.lookup(T, content.identities[0]!.clientId);
    assert.equal(r.identity?.clientId, content.identities[0]!.clientId);
    assert.equal(r.dataAgeMs, 10 * 60_000);
  });

  it('refuses backup-not-covered when the identity never authenticated or is unknown', async () => {
    const { directory } = setup();
    await assert.rejects(directory.lookup(T, fakeIdentity(T, 99).clientId), refusedWith('backup-not-covered'));
    await assert.rejects(directory.lookup(T, fakeIdentity(T, 12345).clientId), refusedWith('backup-not-covered'));
  });

  it('refuses backup-stale and reports not serving when the snapshot is older than the bound', async () => {
    const { clock, directory, content } = setup();
    clock.advance(HOUR);
    assert.equal(directory.freshness().serving, true);
    clock.advance(1);
    assert.equal(directory.freshness().serving, false);
    await assert.rejects(directory.lookup(T, content.identities[0]!.clientId), refusedWith('backup-stale'));
  });

  it('reports not serving when no snapshot has loaded', () => {
    const directory = new BackupDirectory({ snapshot: () => undefined, clock: new ManualClock(), coverageWindowMs: DAY, maxStalenessMs: HOUR });
    assert.equal(directory.freshness().serving, false);
    assert.equal(directory.coveredCount(), 0);
  });

  it('counts covered identities when some are not', () => {
    assert.equal(setup().directory.coveredCount(), 2);
  });
});
