import assert from 'node:assert/strict';
import { decodeProtectedHeader, type JSONWebKeySet } from 'jose';
import { KeySetCache, TokenVerifier, gatewayJwksSource, type KeySetEvent } from '../../verifier/index.js';
import { eventually } from '../integration/regional/regional-harness.js';
import { RESOURCE, TestMesh, acquire, type TestWorkload } from '../support/mesh-harness.js';

/**
 * The verifier library across a real signing-key rotation: global rotates its key every 3 s, a
 * resource server's verifier reads the key set through the gateway (gatewayJwksSource), meets a
 * token signed with a key it has never seen, refetches once and accepts it, and still accepts
 * the token signed before the rotation.
 */
describe('verifier across a signing-key rotation (system)', function () {
  this.timeout(90_000);
  const mesh = new TestMesh();
  let w: TestWorkload;

  before(async () => {
    await mesh.startGlobal(['--signing-key-rotate-after', '3s']);
    w = await mesh.addWorkload('rotation-reader');
    await mesh.startRegional('eastus');
    await mesh.startGateway('eastus');
  });

  after(async () => {
    await mesh.stop();
  });

  it('refetches the key set through the gateway on an unknown kid and accepts tokens of the old and the new key', async () => {
    const global = mesh.tokenClient('global');
    const token = async (): Promise<string> => {
      const o = await acquire(global, w);
      assert.ok(o.response !== undefined, o.error?.details);
      return o.response.accessToken;
    };
    const gateway = gatewayJwksSource({ endpoints: [mesh.address('gateway-eastus')], tenantId: w.tenantId });
    const fetched: JSONWebKeySet[] = [];
    const events: KeySetEvent[] = [];
    const keys = new KeySetCache({
      source: async () => {
        const set = await gateway();
        fetched.push(set);
        return set;
      },
      refetchIntervalMs: 500,
      onEvent: (e) => events.push(e),
    });
    const verifier = new TokenVerifier({ keys, tenantId: w.tenantId, audience: RESOURCE });
    try {
      const before = await token();
      assert.equal((await verifier.verify(before)).claims.client_id, w.clientId);
      const known = new Set(fetched[0]!.keys.map((k) => k.kid));
      // Global rotates every 3 s: wait for a token signed with a key the verifier has not fetched.
      let after = before;
      await eventually(async () => {
        after = await token();
        return !known.has(decodeProtectedHeader(after).kid);
      }, 20_000, 100);
      const newKid = String(decodeProtectedHeader(after).kid);
      assert.equal((await verifier.verify(after)).claims.client_id, w.clientId);
      console.log(`      kid ${String(decodeProtectedHeader(before).kid)} → ${newKid}; key set events: ${events.map((e) => `${e.type}/${e.reason}`).join(', ')}`);
      assert.deepEqual(events.map((e) => `${e.type}/${e.reason}`), ['fetched/initial', 'fetched/unknown-kid']);
      assert.ok(fetched[1]!.keys.some((k) => k.kid === newKid), 'the refetched set holds the new key');
      // The token signed before the rotation still verifies with the refetched set.
      assert.equal((await verifier.verify(before)).claims.client_id, w.clientId);
      assert.equal(keys.fetches, 2);
    } finally {
      gateway.close();
    }
  });
});
