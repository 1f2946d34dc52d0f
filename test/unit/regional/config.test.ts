import assert from 'node:assert/strict';
import { ConfigError } from '../../../lib/config/index.js';
import { parseRegionalConfig } from '../../../services/regional/config.js';

describe('regional config', () => {
  it('fills defaults around the required region', () => {
    const config = parseRegionalConfig(['--region', 'eastus'], {});
    assert.equal(config.listen, '127.0.0.1:50061');
    assert.equal(config.global, '127.0.0.1:50051');
    assert.equal(config.dataDir, '.mesh/regional-eastus');
    assert.equal(config['token-lifetime'], 3_600_000);
    assert.equal(config['cache-capacity'], 100_000);
    assert.equal(config['signing-key-rotate-after'], 30 * 86_400_000);
    assert.equal(parseRegionalConfig(['--region', 'eastus', '--signing-key-rotate-after', '0'], {})['signing-key-rotate-after'], 0);
    assert.ok(Object.isFrozen(config));
  });

  it('takes settings from the environment when no flag is given', () => {
    const config = parseRegionalConfig([], { AUTHMESH_REGION: 'westus', AUTHMESH_CACHE_CAPACITY: '10', AUTHMESH_REFRESH_TTL: '30s' });
    assert.equal(config.region, 'westus');
    assert.equal(config['cache-capacity'], 10);
    assert.equal(config['refresh-ttl'], 30_000);
  });

  it('reports every problem at once', () => {
    assert.throws(
      () => parseRegionalConfig(['--cache-capacity', '0', '--listen', 'nope'], {}),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 3,
    );
  });

  it('takes the assertion lifetime cap in whole seconds up to a day, one hour by default', () => {
    assert.equal(parseRegionalConfig(['--region', 'eastus'], {})['assertion-max-lifetime'], 3_600_000);
    assert.equal(parseRegionalConfig(['--region', 'eastus', '--assertion-max-lifetime', '10m'], {})['assertion-max-lifetime'], 600_000);
    for (const bad of ['0', '1500ms', '25h']) {
      assert.throws(
        () => parseRegionalConfig(['--region', 'eastus', '--assertion-max-lifetime', bad], {}),
        (err: unknown) => err instanceof ConfigError && /--assertion-max-lifetime/.test(err.message),
        bad,
      );
    }
  });
});
