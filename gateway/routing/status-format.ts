/** Renders a gateway's GetStatus answer as the text table of `authmesh status`. */
import { BreakerState, DomainHealth, type GetStatusResponse } from '../../gen/authmesh/gateway/v1/gateway.js';

const BREAKER_WORD: Readonly<Record<number, string>> = {
  [BreakerState.BREAKER_STATE_CLOSED]: 'closed',
  [BreakerState.BREAKER_STATE_OPEN]: 'OPEN',
  [BreakerState.BREAKER_STATE_HALF_OPEN]: 'half-open',
};

const HEALTH_WORD: Readonly<Record<number, string>> = {
  [DomainHealth.DOMAIN_HEALTH_UNKNOWN]: 'unknown',
  [DomainHealth.DOMAIN_HEALTH_SERVING]: 'serving',
  [DomainHealth.DOMAIN_HEALTH_NOT_SERVING]: 'NOT_SERVING',
  [DomainHealth.DOMAIN_HEALTH_UNREACHABLE]: 'unreachable',
};

const COLUMNS = ['DOMAIN', 'ADDRESS', 'BREAKER', 'HEALTH', 'REQUESTS', 'ERRORS', 'CALLER_ERR', 'FAILOVERS', 'ERR%', 'P50_MS', 'P99_MS', 'SCORE'] as const;
/** Columns aligned right (numbers). */
const NUMERIC = new Set(['REQUESTS', 'ERRORS', 'CALLER_ERR', 'FAILOVERS', 'ERR%', 'P50_MS', 'P99_MS', 'SCORE']);

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

const fixed = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');

/**
 * Renders one gateway's status as a text table, for `authmesh status`:
 *
 * ```
 * gateway eastus at 127.0.0.1:50050, up 2m5s, retry budget 100.0/100
 * DOMAIN           ADDRESS          BREAKER  HEALTH   REQUESTS ERRORS CALLER_ERR FAILOVERS ERR% P50_MS P99_MS SCORE
 * regional/eastus  127.0.0.1:50061  closed   serving      1200      0          3         0  0.0    0.8    2.1  0.00
 * ```
 * Domains are listed in priority order; SCORE is the routing score (lower is preferred, `-` when
 * the domain is not a candidate now: breaker open, NOT_SERVING or half-open).
 */
export function formatGatewayStatus(s: GetStatusResponse): string {
  const header = `gateway ${s.region} at ${s.listen}, up ${duration(s.uptimeMs)}, retry budget ${fixed(s.retryTokens, 1)}/${s.retryMaxTokens}`;
  const rows: string[][] = [
    [...COLUMNS],
    ...s.domains.map((d) => [
      d.name,
      d.address,
      BREAKER_WORD[d.breakerState] ?? 'unspecified',
      HEALTH_WORD[d.health] ?? 'unspecified',
      String(d.requests),
      String(d.errors),
      String(d.callerErrors),
      String(d.failovers),
      fixed(d.recentErrorRate * 100, 1),
      fixed(d.p50Ms, 1),
      fixed(d.p99Ms, 1),
      d.score < 0 ? '-' : fixed(d.score, 2),
    ]),
  ];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) =>
    r
      .map((cell, i) => (NUMERIC.has(COLUMNS[i]!) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
  return [header, ...lines].join('\n');
}
