/** Orders the fault domains for one call from a health snapshot: the route plan. */
import type { DomainView, HealthSnapshot } from './health-snapshot.js';

/**
 * Routing score (lower is preferred). For every domain that may take traffic:
 *
 *   score = priority                                    0 home regional, 1 global, 2 backup
 *         + errorRate / errorRateStep                   only with >= minSamples recent attempts
 *         + max(0, log2((p99 + slackMs) / (bestP99 + slackMs)))
 *                                                       only with >= minSamples latency samples;
 *                                                       bestP99 = lowest p99 among the candidates
 *                                                       that have enough samples
 *         + unreachablePenalty                          when its health watch stream is down
 *
 * So with the defaults (errorRateStep 0.25, slackMs 20) the preferred domain keeps its traffic
 * until it is clearly worse: it gives up one priority step for every 25 percentage points of
 * recent fault rate, or for every doubling of its p99 over the best candidate's (with 20 ms of
 * slack, so 1 ms against 3 ms is noise: log2(23/21) = 0.13). Regional at 40% faults (score 1.6)
 * loses to a clean global (1.0); regional at 10% faults (0.4) keeps its traffic. Regional with a
 * p99 of 100 ms against global's 10 ms scores log2(120/30) = 2 and falls behind global. Too few
 * samples means no evidence, so the priority order stands. Ties keep the priority order.
 *
 * Who is a candidate:
 * - breaker open: skipped (the breaker refuses it anyway);
 * - health NOT_SERVING: skipped;
 * - breaker half-open: gets probe traffic only. With the probe slot free it is listed in
 *   `probes` (the caller sends a copy of the request there without waiting on it); with a probe
 *   out it is skipped. The caller itself never waits on a half-open domain unless it is the only
 *   way left (see below).
 * - everything else (closed breaker; health SERVING, UNKNOWN or UNREACHABLE) is scored.
 * - a candidate ranked behind a domain of lower priority (demoted by its figures) that has had no
 *   attempt for `refreshAfterMs` is listed in `refreshes`: the caller sends it a copy of the
 *   request without waiting on it. Ranked behind, it gets no calls that could bring its figures
 *   up to date, so a moment of contention would otherwise keep it demoted until those figures
 *   leave the window. A refresh answered within `refreshWithinMs` (as fast as the best candidate,
 *   give or take one priority step) clears its figures; any other outcome is recorded as usual.
 * When no domain is a candidate, the half-open domains with a free probe slot become the attempts
 * (the caller's request is the probe), and after them the closed-breaker domains that say
 * NOT_SERVING, because health may lag and a certain failure is worse than a try.
 */
export interface RoutingOptions {
  /** Attempts (or latency samples) in the recent window before figures count. Default 20. */
  minSamples?: number;
  /** Fault rate that costs one priority step. Default 0.25. */
  errorRateStep?: number;
  /** Added to both p99s before comparing, in ms, so small absolute gaps are noise. Default 20. */
  latencySlackMs?: number;
  /** Score added while a domain's health watch stream is down. Default 1.5. */
  unreachablePenalty?: number;
  /** Idle time after which a demoted domain gets a refresh copy, in ms. Default 1000. */
  refreshAfterMs?: number;
}

/** Why a domain gets no attempt in this call. */
export interface SkippedDomain {
  name: string;
  why: string;
}

/** The outcome of routing for one call. */
export interface RoutePlan {
  /** Domains to try, best first. */
  order: readonly string[];
  /** Half-open domains to send a probe copy of the request to. */
  probes: readonly string[];
  /** Demoted, idle domains to send a refresh copy of the request to. */
  refreshes: readonly string[];
  /** A refresh answered within this many ms clears the domain's figures. */
  refreshWithinMs: number;
  skipped: readonly SkippedDomain[];
  /** Score of every scored domain, by name. */
  scores: Readonly<Record<string, number>>;
}

const DEFAULTS: Required<RoutingOptions> = { minSamples: 20, errorRateStep: 0.25, latencySlackMs: 20, unreachablePenalty: 1.5, refreshAfterMs: 1000 };

/** Scores one candidate against the best p99 among candidates (see {@link RoutingOptions}). */
export function scoreDomain(view: DomainView, bestP99: number | undefined, options: RoutingOptions = {}): number {
  const o = { ...DEFAULTS, ...options };
  let score = view.priority;
  if (view.recent.attempts >= o.minSamples) score += view.recent.errorRate / o.errorRateStep;
  if (bestP99 !== undefined && view.recent.latencySamples >= o.minSamples) {
    score += Math.max(0, Math.log2((view.recent.p99Ms + o.latencySlackMs) / (bestP99 + o.latencySlackMs)));
  }
  if (view.health === 'unreachable') score += o.unreachablePenalty;
  return score;
}

/** Orders the fault domains for one call. Pure: same snapshot and options, same plan. */
export function chooseDomains(snapshot: HealthSnapshot, options: RoutingOptions = {}): RoutePlan {
  const minSamples = options.minSamples ?? DEFAULTS.minSamples;
  const candidates: DomainView[] = [];
  const probes: DomainView[] = [];
  const notServing: DomainView[] = [];
  const skipped: SkippedDomain[] = [];
  for (const d of snapshot.domains) {
    if (d.breaker === 'open') skipped.push({ name: d.name, why: 'breaker open' });
    else if (d.health === 'not-serving') {
      skipped.push({ name: d.name, why: 'health NOT_SERVING' });
      if (d.breaker === 'closed') notServing.push(d);
    } else if (d.breaker === 'half-open') {
      if (d.probeInFlight) skipped.push({ name: d.name, why: 'breaker half-open, probe in flight' });
      else probes.push(d);
    } else candidates.push(d);
  }
  let bestP99: number | undefined;
  for (const d of candidates) {
    if (d.recent.latencySamples >= minSamples && (bestP99 === undefined || d.recent.p99Ms < bestP99)) bestP99 = d.recent.p99Ms;
  }
  const scores: Record<string, number> = {};
  for (const d of candidates) scores[d.name] = scoreDomain(d, bestP99, options);
  const ranked = candidates.slice().sort((a, b) => scores[a.name]! - scores[b.name]! || a.priority - b.priority);
  const order = ranked.map((d) => d.name);
  const refreshAfterMs = options.refreshAfterMs ?? DEFAULTS.refreshAfterMs;
  const refreshWithinMs = bestP99 === undefined ? Infinity : 2 * bestP99 + (options.latencySlackMs ?? DEFAULTS.latencySlackMs);
  const refreshes: string[] = [];
  // Demoted: some domain ranked ahead has a lower priority (a higher priority number).
  let lowestAhead = -Infinity;
  for (const d of ranked) {
    if (lowestAhead > d.priority && !d.refreshInFlight && snapshot.takenAt - d.recent.lastAttemptAt >= refreshAfterMs) refreshes.push(d.name);
    lowestAhead = Math.max(lowestAhead, d.priority);
  }
  if (order.length > 0) return { order, probes: probes.map((d) => d.name), refreshes, refreshWithinMs, skipped, scores };
  // Nothing healthy: the caller's request becomes the probe, then NOT_SERVING as a last try.
  const lastResort = [...probes, ...notServing].map((d) => d.name);
  return {
    order: lastResort,
    probes: [],
    refreshes: [],
    refreshWithinMs,
    skipped: skipped.filter((s) => !lastResort.includes(s.name)),
    scores,
  };
}
