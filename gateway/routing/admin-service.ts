/** GatewayAdminService: the routing state (domains, breakers, health, retry budget) as GetStatus reports it. */
import type { Clock } from '../../lib/clock/index.js';
import {
  BreakerState,
  DomainHealth,
  GatewayAdminServiceService,
  type GetStatusResponse,
} from '../../gen/authmesh/gateway/v1/gateway.js';
import type { Metadata } from '@grpc/grpc-js';
import { BearerCheck, requireBearer, type ServiceBinding } from '../../lib/grpc/index.js';
import { chooseDomains, type RoutingOptions } from './choose-domain.js';
import type { FaultDomain } from './fault-domain.js';
import type { BreakerView, HealthView } from './health-snapshot.js';
import type { RetryBudget } from './retry-budget.js';

const BREAKER: Readonly<Record<BreakerView, BreakerState>> = {
  closed: BreakerState.BREAKER_STATE_CLOSED,
  open: BreakerState.BREAKER_STATE_OPEN,
  'half-open': BreakerState.BREAKER_STATE_HALF_OPEN,
};

const HEALTH: Readonly<Record<HealthView, DomainHealth>> = {
  unknown: DomainHealth.DOMAIN_HEALTH_UNKNOWN,
  serving: DomainHealth.DOMAIN_HEALTH_SERVING,
  'not-serving': DomainHealth.DOMAIN_HEALTH_NOT_SERVING,
  unreachable: DomainHealth.DOMAIN_HEALTH_UNREACHABLE,
};

/** What the status report reads. */
export interface StatusSources {
  region: string;
  listen: () => string;
  domains: readonly FaultDomain[];
  budget: RetryBudget;
  clock: Clock;
  startedAt: number;
  routing?: RoutingOptions;
}

/** The gateway's view of its fault domains, fresh (not the cached routing snapshot). */
export function gatewayStatus(src: StatusSources): GetStatusResponse {
  const views = src.domains.map((d) => d.view());
  const plan = chooseDomains({ takenAt: src.clock.now(), domains: views }, src.routing);
  return {
    region: src.region,
    listen: src.listen(),
    retryTokens: src.budget.tokens,
    retryMaxTokens: src.budget.maxTokens,
    uptimeMs: src.clock.now() - src.startedAt,
    domains: src.domains.map((d, i) => {
      const v = views[i]!;
      return {
        name: d.name,
        address: d.address,
        breakerState: BREAKER[v.breaker],
        health: HEALTH[v.health],
        requests: d.stats.totals.requests,
        errors: d.stats.totals.errors,
        callerErrors: d.stats.totals.callerErrors,
        failovers: d.stats.totals.failovers,
        p50Ms: v.recent.p50Ms,
        p99Ms: v.recent.p99Ms,
        recentErrorRate: v.recent.errorRate,
        score: plan.scores[d.name] ?? -1,
      };
    }),
  };
}

/**
 * authmesh.gateway.v1.GatewayAdminService bound to a status source. It shares the public port, so
 * every call must carry the mesh token (`authorization: Bearer`) that `statusToken` returns; with
 * no token configured every call is refused.
 */
export function adminBinding(src: StatusSources, statusToken: () => string | undefined): ServiceBinding {
  const implementation = {
    getStatus: (_call: unknown, callback: (err: null, res: GetStatusResponse) => void) => callback(null, gatewayStatus(src)),
  };
  const check = { allows: (metadata: Metadata): boolean => bearerMatches(metadata, statusToken()) };
  return {
    name: 'authmesh.gateway.v1.GatewayAdminService',
    definition: GatewayAdminServiceService,
    implementation: requireBearer(GatewayAdminServiceService, implementation, check, 'mesh token'),
  };
}

/** Whether the call's bearer token is `token`, compared in constant time. */
function bearerMatches(metadata: Metadata, token: string | undefined): boolean {
  return token !== undefined && token !== '' && new BearerCheck([token]).allows(metadata);
}
