import assert from 'node:assert/strict';
import { ManagedIdentityCredential, MeshUnavailableError, type AccessToken, type AgentTransport } from '../../../client/index.js';
import { ManualClock } from '../../../lib/clock/index.js';

const SCOPE = 'https://storage.authmesh.local/.default';

class FakeAgent implements AgentTransport {
  calls = 0;
  down = false;
  constructor(private readonly clock: ManualClock) {}
  getToken(): Promise<AccessToken> {
    this.calls += 1;
    if (this.down) return Promise.reject(new MeshUnavailableError('agent down'));
    const now = this.clock.now();
    return Promise.resolve({ token: `mi-${this.calls}`, expiresOn: now + 600_000, refreshAfter: now + 300_000, faultDomain: 'global' });
  }
  close(): void {}
}

describe('ManagedIdentityCredential', () => {
  it('asks the agent once and serves its token from cache through an agent outage until expiry', async () => {
    const clock = new ManualClock();
    const agent = new FakeAgent(clock);
    const credential = new ManagedIdentityCredential({ transport: agent, clock });
    const first = await credential.getToken(SCOPE);
    assert.equal(first.token, 'mi-1');
    agent.down = true;
    clock.advance(400_000);
    assert.equal((await credential.getToken(SCOPE)).token, 'mi-1');
    clock.advance(200_000);
    await assert.rejects(credential.getToken(SCOPE), MeshUnavailableError);
  });
});
