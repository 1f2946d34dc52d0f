import assert from 'node:assert/strict';
import { BreakerState, DomainHealth, type DomainStatus, type GetStatusResponse } from '../../../gen/authmesh/gateway/v1/gateway.js';
import { problemsOf } from '../../../cli/status-command.js';

const domain = (name: string, breakerState: BreakerState): DomainStatus =>
  ({ name, address: '127.0.0.1:1', breakerState, health: DomainHealth.DOMAIN_HEALTH_SERVING }) as DomainStatus;

const gateway = (...domains: DomainStatus[]): GetStatusResponse =>
  ({ region: 'eastus', listen: '127.0.0.1:2', domains, retryTokens: 0, retryMaxTokens: 0, uptimeMs: 0 }) as GetStatusResponse;

const healthyBackup = { serving: true };

describe('authmesh status verdict', () => {
  it('finds nothing wrong when every component answers and every breaker is closed', () => {
    const status = gateway(domain('regional-eastus', BreakerState.BREAKER_STATE_CLOSED), domain('global', BreakerState.BREAKER_STATE_CLOSED));
    assert.deepEqual(problemsOf({ gateways: [{ address: 'g', status }], backupAddress: 'b', backup: healthyBackup, tier: undefined }), []);
  });

  it('reports a breaker that is open or half-open, naming the gateway and the fault domain', () => {
    const status = gateway(domain('regional-eastus', BreakerState.BREAKER_STATE_OPEN), domain('global', BreakerState.BREAKER_STATE_HALF_OPEN));
    assert.deepEqual(problemsOf({ gateways: [{ address: 'g', status }], backupAddress: 'b', backup: healthyBackup, tier: undefined }), [
      'gateway g: breaker of regional-eastus is open',
      'gateway g: breaker of global is half-open',
    ]);
  });

  it('reports an unreachable gateway, backup, global instance and database node', () => {
    const problems = problemsOf({
      gateways: [{ address: 'g', error: 'connect ECONNREFUSED' }],
      backupAddress: 'b',
      backup: { error: 'no connection' },
      tier: { globals: [{ name: 'global-a', address: 'a', serving: false }], database: [{ name: 'pg-0', address: 'p', role: 'down' }] },
    });
    assert.deepEqual(problems, ['gateway g unreachable', 'backup b unreachable', 'global global-a a unreachable', 'database pg-0 p down']);
  });
});
