import assert from 'node:assert/strict';
import { memberOfToken, memberToken } from '../../../lib/grpc/member-token.js';

describe('member tokens', () => {
  const key = 'amt_test-key-0123456789abcdef';

  it('names the member a token was issued for', () => {
    assert.equal(memberOfToken(key, memberToken(key, 'regional-eastus')), 'regional-eastus');
    assert.equal(memberOfToken(key, memberToken(key, 'backup')), 'backup');
  });

  it('names no member when the token was renamed, minted under another key, cut short or is not a member token', () => {
    const eastus = memberToken(key, 'regional-eastus');
    for (const token of [
      eastus.replace('regional-eastus', 'regional-westus'),
      memberToken('another-key', 'regional-eastus'),
      eastus.slice(0, -2),
      'amm.regional-eastus.',
      'amm..abc',
      'amt_plain-bearer-token',
      '',
    ]) {
      assert.equal(memberOfToken(key, token), undefined, token);
    }
  });

  it('refuses to issue a token for a name that is not a mesh member name', () => {
    assert.throws(() => memberToken(key, 'Regional/EastUS'), /not a mesh member name/);
  });
});
