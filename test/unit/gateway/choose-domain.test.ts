import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chooseDomains, scoreDomain } from '../../../gateway/routing/choose-domain.js';
import type { DomainView, HealthSnapshot } from '../../../gateway/routing/health-snapshot.js';

const quiet = { attempts: 0, errorRate: 0, p50Ms: 0, p99Ms: 0, latencySamples: 0, lastAttemptAt: 0 };

function view(name: string, priority: number, patch: Partial<DomainView> = {}): DomainView {
  return { name, priority, breaker: 'closed', probeInFlight: false, refreshInFlight: false, health: 'serving', recent: quiet, ...patch };
}

const snap = (...domains: DomainView[]): HealthSnapshot => ({ takenAt: 0, domains });
const R = 'regional/eastus';

describe('chooseDomains', () => {
  it('keeps the priority order when every domain is healthy and has no figures', () => {
    const plan = chooseDomains(snap(view(R, 0), view('global', 1), view('backup', 2)));
    assert.deepEqual(plan.order, [R, 'global', 'backup']);
    assert.deepEqual(plan.probes, []);
  });

  it('skips a domain whose breaker is open', () => {
    const plan = chooseDomains(snap(view(R, 0, { breaker: 'open' }), view('global', 1)));
    assert.deepEqual(plan.order, ['global']);
    assert.deepEqual(plan.skipped, [{ name: R, why: 'breaker open' }]);
  });

  it('skips a domain whose health watch says NOT_SERVING', () => {
    const plan = chooseDomains(snap(view(R, 0, { health: 'not-serving' }), view('global', 1), view('backup', 2)));
    assert.deepEqual(plan.order, ['global', 'backup']);
    assert.equal(plan.skipped[0]!.why, 'health NOT_SERVING');
  });

  it('gives a half-open domain probe traffic only, and none while its probe is out', () => {
    const free = chooseDomains(snap(view(R, 0, { breaker: 'half-open' }), view('global', 1)));
    assert.deepEqual(free.order, ['global']);
    assert.deepEqual(free.probes, [R]);
    const busy = chooseDomains(snap(view(R, 0, { breaker: 'half-open', probeInFlight: true }), view('global', 1)));
    assert.deepEqual(busy.order, ['global']);
    assert.deepEqual(busy.probes, []);
  });

  it('keeps the preferred domain when its error rate is only a little worse', () => {
    const plan = chooseDomains(snap(view(R, 0, { recent: { ...quiet, attempts: 100, errorRate: 0.1 } }), view('global', 1)));
    assert.deepEqual(plan.order, [R, 'global']);
  });

  it('demotes the preferred domain when its recent error rate is clearly worse', () => {
    const plan = chooseDomains(snap(view(R, 0, { recent: { ...quiet, attempts: 100, errorRate: 0.4 } }), view('global', 1)));
    assert.deepEqual(plan.order, ['global', R]);
  });

  it('ignores the error rate of a domain with too few recent attempts', () => {
    const plan = chooseDomains(snap(view(R, 0, { recent: { ...quiet, attempts: 3, errorRate: 1 } }), view('global', 1)));
    assert.deepEqual(plan.order, [R, 'global']);
  });

  it('demotes the preferred domain when its p99 is clearly worse, not when slightly worse', () => {
    const lat = (p99Ms: number) => ({ ...quiet, attempts: 50, latencySamples: 50, p50Ms: p99Ms / 2, p99Ms });
    assert.deepEqual(chooseDomains(snap(view(R, 0, { recent: lat(3) }), view('global', 1, { recent: lat(1) }))).order, [R, 'global']);
    assert.deepEqual(chooseDomains(snap(view(R, 0, { recent: lat(100) }), view('global', 1, { recent: lat(10) }))).order, ['global', R]);
    assert.equal(scoreDomain(view(R, 0, { recent: lat(100) }), 10), 2);
  });

  it('sends a refresh copy to a domain ranked behind on figures it has had no calls to renew', () => {
    const lat = (p99Ms: number, lastAttemptAt: number) => ({ ...quiet, attempts: 50, latencySamples: 50, p50Ms: p99Ms / 2, p99Ms, lastAttemptAt });
    const at = (takenAt: number, globalPatch: Partial<DomainView>, backupP99 = 10): HealthSnapshot => ({
      takenAt,
      domains: [view(R, 0, { breaker: 'open' }), view('global', 1, globalPatch), view('backup', 2, { recent: lat(backupP99, takenAt) })],
    });
    const stale = chooseDomains(at(10_000, { recent: lat(100, 8_000) }));
    assert.deepEqual(stale.order, ['backup', 'global']);
    assert.deepEqual(stale.refreshes, ['global']);
    assert.equal(stale.refreshWithinMs, 2 * 10 + 20, 'as fast as backup, give or take one priority step');
    assert.deepEqual(chooseDomains(at(10_000, { recent: lat(100, 9_500) })).refreshes, [], 'it had a call within the last second');
    assert.deepEqual(chooseDomains(at(10_000, { recent: lat(100, 8_000), refreshInFlight: true })).refreshes, [], 'one refresh at a time');
    assert.deepEqual(chooseDomains(at(10_000, { recent: lat(5, 8_000) })).refreshes, [], 'not ranked behind backup');
    const behindHigherPriority = chooseDomains({ takenAt: 10_000, domains: [view(R, 0), view('global', 1, { recent: lat(5, 8_000) })] });
    assert.deepEqual(behindHigherPriority.refreshes, [], 'behind the home regional by priority alone is not demoted');
  });

  it('puts a domain whose health stream is down behind the next one but ahead of the one after', () => {
    const plan = chooseDomains(snap(view(R, 0, { health: 'unreachable' }), view('global', 1), view('backup', 2)));
    assert.deepEqual(plan.order, ['global', R, 'backup']);
  });

  it('falls back to half-open, then NOT_SERVING domains when nothing else is left', () => {
    const plan = chooseDomains(snap(view(R, 0, { breaker: 'open' }), view('global', 1, { breaker: 'half-open' }), view('backup', 2, { health: 'not-serving' })));
    assert.deepEqual(plan.order, ['global', 'backup']);
    assert.deepEqual(plan.probes, []);
    assert.deepEqual(plan.skipped, [{ name: R, why: 'breaker open' }]);
  });

  it('answers with no attempts when every breaker is open', () => {
    const plan = chooseDomains(snap(view(R, 0, { breaker: 'open' }), view('global', 1, { breaker: 'open' })));
    assert.deepEqual(plan.order, []);
    assert.equal(plan.skipped.length, 2);
  });

  it('is a pure function: same snapshot, same plan; never routes to an open or NOT_SERVING domain while others exist', () => {
    const arbView = (name: string, priority: number) =>
      fc.record({
        breaker: fc.constantFrom('closed', 'open', 'half-open' as const),
        probeInFlight: fc.boolean(),
        health: fc.constantFrom('unknown', 'serving', 'not-serving', 'unreachable' as const),
        attempts: fc.nat(200),
        errorRate: fc.double({ min: 0, max: 1, noNaN: true }),
        p99Ms: fc.double({ min: 0, max: 1000, noNaN: true }),
      }).map((r) => view(name, priority, {
        breaker: r.breaker as DomainView['breaker'],
        probeInFlight: r.probeInFlight,
        health: r.health as DomainView['health'],
        recent: { attempts: r.attempts, errorRate: r.errorRate, p50Ms: r.p99Ms / 2, p99Ms: r.p99Ms, latencySamples: r.attempts, lastAttemptAt: 0 },
      }));
    fc.assert(
      fc.property(arbView(R, 0), arbView('global', 1), arbView('backup', 2), (a, b, c) => {
        const s = snap(a, b, c);
        const plan = chooseDomains(s);
        assert.deepEqual(chooseDomains(s), plan);
        const usable = s.domains.filter((d) => d.breaker === 'closed' && d.health !== 'not-serving');
        if (usable.length > 0) assert.deepEqual([...plan.order].sort(), usable.map((d) => d.name).sort());
        for (const name of plan.order) assert.notEqual(s.domains.find((d) => d.name === name)!.breaker, 'open');
      }),
    );
  });
});
