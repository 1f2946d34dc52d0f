import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { dashboardExprs, loadRules, metricNamesOf, MONITORING_DIR, RULE_TESTS_FILE, RULES_FILE } from '../support/monitoring-files.js';
import { anchorsOf } from '../support/markdown.js';
import { REPO_ROOT } from './service-contract.js';

const OPERATIONS_DOC = path.join(REPO_ROOT, 'docs', 'operations.md');

/** promtool from Debian's prometheus package (scripts/test-setup.sh installs it). */
function promtool(args: string[]): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd: MONITORING_DIR, encoding: 'utf8', timeout: 60_000 });
  if (r.error !== undefined) throw new Error(`promtool could not run (${r.error.message}): install Debian's prometheus package (scripts/test-setup.sh does)`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('deploy/monitoring', () => {
  it('passes promtool check rules for the alert rules', () => {
    const r = promtool(['check', 'rules', RULES_FILE]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS/);
  });

  it('passes every promtool unit test of the alert rules', () => {
    const r = promtool(['test', 'rules', RULE_TESTS_FILE]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS/);
  });

  it('has a promtool unit test that fires every alert in the rules file', () => {
    type AlertTest = { alertname: string; exp_alerts?: unknown[] };
    const doc = parse(readFileSync(RULE_TESTS_FILE, 'utf8')) as { rule_files: string[]; tests: Array<{ alert_rule_test?: AlertTest[] }> };
    assert.deepEqual(
      doc.rule_files.map((f) => path.resolve(path.dirname(RULE_TESTS_FILE), f)),
      [RULES_FILE],
      'the unit tests load the rules file',
    );
    const fired = new Set(doc.tests.flatMap((t) => t.alert_rule_test ?? []).filter((t) => (t.exp_alerts ?? []).length > 0).map((t) => t.alertname));
    const alerts = loadRules().flatMap((r) => (r.alert === undefined ? [] : [r.alert]));
    assert.ok(alerts.length >= 10, `${alerts.length} alerts`);
    assert.deepEqual(alerts.filter((a) => !fired.has(a)), [], 'alerts no unit test fires');
  });

  it('links every alert to a runbook entry that exists in docs/operations.md', () => {
    const doc = readFileSync(OPERATIONS_DOC, 'utf8');
    const anchors = anchorsOf(doc);
    for (const rule of loadRules()) {
      if (rule.alert === undefined) continue;
      const url = rule.annotations?.runbook_url ?? '';
      const m = /^https:\/\/github\.com\/authmesh\/authmesh\/blob\/main\/docs\/operations\.md#([\w-]+)$/.exec(url);
      assert.ok(m !== null, `${rule.alert}: runbook_url ${JSON.stringify(url)} does not link an entry of docs/operations.md`);
      assert.ok(anchors.has(m[1]!), `${rule.alert}: docs/operations.md has no heading for #${m[1]!}`);
      assert.equal(m[1], rule.alert.toLowerCase(), `${rule.alert}: links the runbook of another alert`);
    }
  });

  it('builds the dashboard from PromQL that names a recording rule or a metric in every target', () => {
    const records = new Set(loadRules().flatMap((r) => (r.record === undefined ? [] : [r.record])));
    const exprs = dashboardExprs();
    assert.ok(exprs.length >= 20, `${exprs.length} dashboard targets`);
    for (const expr of exprs) {
      const names = metricNamesOf(expr);
      assert.ok(names.length > 0, `no metric in ${expr}`);
      for (const n of names) if (n.includes(':')) assert.ok(records.has(n), `${n} is no recording rule of alerts.yml (${expr})`);
    }
  });

  it('reads metric names out of PromQL, leaving functions, labels, keywords and durations out', () => {
    assert.deepEqual(
      metricNamesOf('histogram_quantile(0.99, sum by (le, fault_domain) (rate(authmesh_gateway_attempt_duration_seconds_bucket{outcome="answered"}[5m])))'),
      ['authmesh_gateway_attempt_duration_seconds_bucket'],
    );
    assert.deepEqual(
      metricNamesOf('authmesh_backup_snapshot_age_seconds > 0.75 * on (instance) group_left () authmesh_backup_max_staleness_seconds offset 5m'),
      ['authmesh_backup_snapshot_age_seconds', 'authmesh_backup_max_staleness_seconds'],
    );
    assert.deepEqual(metricNamesOf('time() - authmesh_signing_key_expiry_timestamp_seconds > 1e3 and bool up'), ['authmesh_signing_key_expiry_timestamp_seconds', 'up']);
    assert.deepEqual(metricNamesOf('sum(rate(x_total{a="b{c}"}[$__rate_interval])) / ignoring(a) y:z:rate5m'), ['x_total', 'y:z:rate5m']);
  });
});
