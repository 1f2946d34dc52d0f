import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

export const MONITORING_DIR = path.resolve(__dirname, '..', '..', '..', 'deploy', 'monitoring');
export const RULES_FILE = path.join(MONITORING_DIR, 'alerts.yml');
export const RULE_TESTS_FILE = path.join(MONITORING_DIR, 'tests', 'alerts.test.yml');
export const DASHBOARD_FILE = path.join(MONITORING_DIR, 'grafana-dashboard.json');

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  annotations?: Record<string, string>;
}

/** Every rule of deploy/monitoring/alerts.yml, alerts and recording rules. */
export function loadRules(): Rule[] {
  const doc = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: Array<{ rules: Rule[] }> };
  return doc.groups.flatMap((g) => g.rules);
}

/** The `expr` of every target of every panel of the Grafana dashboard, rows' panels included. */
export function dashboardExprs(): string[] {
  type Panel = { targets?: Array<{ expr?: string }>; panels?: Panel[] };
  const doc = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: Panel[] };
  const out: string[] = [];
  const walk = (panels: Panel[]): void => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (typeof t.expr === 'string') out.push(t.expr);
      walk(p.panels ?? []);
    }
  };
  walk(doc.panels);
  return out;
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/**
 * The metric names a PromQL expression selects: every identifier that is not a function call,
 * keyword, label name (inside `{...}` or a `by`/`on`/... list), string, duration or number.
 * Grafana's `$__rate_interval`-style variables count as durations.
 */
export function metricNamesOf(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/#[^\n]*/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\w+/g, ' ');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (call !== undefined || KEYWORDS.has(name!.toLowerCase())) continue;
    names.add(name!);
  }
  return [...names];
}
