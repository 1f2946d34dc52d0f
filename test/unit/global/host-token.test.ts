import assert from 'node:assert/strict';
import { ManualClock } from '../../../lib/clock/index.js';
import { HostTokens } from '../../../services/global/host-token.js';

const TENANT = '11111111-1111-4111-8111-111111111111';
const CLIENT = '22222222-2222-4222-8222-222222222222';

describe('HostTokens', () => {
  it('verifies a token it made, with its scope, until it expires', () => {
    const clock = new ManualClock();
    const tokens = new HostTokens('k'.repeat(32), clock);
    const { token, expiresAt } = tokens.create(TENANT, CLIENT, 60);
    assert.deepEqual(tokens.verify(token), { tenantId: TENANT, clientId: CLIENT, expiresAt });
    clock.advance(59_000);
    assert.ok(tokens.verify(token));
    clock.advance(1_000);
    assert.equal(tokens.verify(token), undefined, 'expired');
  });

  it('refuses a token made under another key, one with a changed expiry, and anything of another shape', () => {
    const clock = new ManualClock();
    const { token } = new HostTokens('a'.repeat(32), clock).create(TENANT, CLIENT, 60);
    const tokens = new HostTokens('b'.repeat(32), clock);
    assert.equal(tokens.verify(token), undefined);
    const own = new HostTokens('a'.repeat(32), clock);
    const exp = token.split('.')[2]!;
    assert.equal(own.verify(token.replace(`.${exp}.`, `.${Number(exp) + 86_400}.`)), undefined);
    assert.equal(own.verify('amt_not-a-host-token'), undefined);
  });
});
