import assert from 'node:assert/strict';
import { BreakerState, DomainHealth } from '../../../gen/authmesh/gateway/v1/gateway.js';
import { formatGatewayStatus } from '../../../gateway/routing/status-format.js';

describe('formatGatewayStatus', () => {
  it('renders one row per domain with breaker, health, counts and latency', () => {
    const text = formatGatewayStatus({
      region: 'eastus',
      listen: '127.0.0.1:50050',
      retryTokens: 99.5,
      retryMaxTokens: 100,
      uptimeMs: 125_000,
      domains: [
        { name: 'regional/eastus', address: '127.0.0.1:50061', breakerState: BreakerState.BREAKER_STATE_OPEN, health: DomainHealth.DOMAIN_HEALTH_UNREACHABLE, requests: 120, errors: 7, callerErrors: 1, failovers: 7, p50Ms: 0.8, p99Ms: 2.25, recentErrorRate: 0.5, score: -1 },
        { name: 'global', address: '127.0.0.1:50051', breakerState: BreakerState.BREAKER_STATE_CLOSED, health: DomainHealth.DOMAIN_HEALTH_SERVING, requests: 1000, errors: 0, callerErrors: 0, failovers: 0, p50Ms: 1.5, p99Ms: 4, recentErrorRate: 0, score: 1 },
      ],
    });
    const lines = text.split('\n');
    assert.equal(lines[0], 'gateway eastus at 127.0.0.1:50050, up 2m5s, retry budget 99.5/100');
    assert.match(lines[1]!, /^DOMAIN\s+ADDRESS\s+BREAKER\s+HEALTH\s+REQUESTS\s+ERRORS\s+CALLER_ERR\s+FAILOVERS\s+ERR%\s+P50_MS\s+P99_MS\s+SCORE$/);
    assert.match(lines[2]!, /^regional\/eastus\s+127\.0\.0\.1:50061\s+OPEN\s+unreachable\s+120\s+7\s+1\s+7\s+50\.0\s+0\.8\s+2\.3\s+-$/);
    assert.match(lines[3]!, /^global\s+127\.0\.0\.1:50051\s+closed\s+serving\s+1000\s+0\s+0\s+0\s+0\.0\s+1\.5\s+4\.0\s+1\.00$/);
    assert.equal(lines[2]!.indexOf('127.0.0.1'), lines[3]!.indexOf('127.0.0.1'), 'columns line up');
  });
});
