import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The alert rules every mesh Prometheus loads. */
export const ALERT_RULES = path.resolve(__dirname, '..', '..', 'deploy', 'monitoring', 'alerts.yml');

/** A process to scrape: its name (the `process` label) and its metrics host:port. */
export interface ScrapeTarget {
  name: string;
  address: string;
}

/** The `prometheus` executable on PATH, or undefined (Debian's prometheus package installs it). */
export function prometheusBinary(envPath: string | undefined): string | undefined {
  for (const dir of (envPath ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const file = path.join(dir, 'prometheus');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** prometheus.yml for the local mesh: every process every 5 s, labelled by name, with the alert rules. */
export function prometheusConfig(targets: readonly ScrapeTarget[], rulesFile: string = ALERT_RULES): string {
  const lines = [
    'global:',
    '  scrape_interval: 5s',
    '  evaluation_interval: 5s',
    'rule_files:',
    `  - ${JSON.stringify(rulesFile)}`,
    'scrape_configs:',
    '  - job_name: authmesh',
    '    metrics_path: /metrics',
    '    static_configs:',
  ];
  for (const t of targets) lines.push(`      - targets: [${JSON.stringify(t.address)}]`, `        labels: { process: ${JSON.stringify(t.name)} }`);
  return `${lines.join('\n')}\n`;
}

/** A Prometheus started by {@link startPrometheus}. */
export interface MeshPrometheus {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>`. */
  url: string;
}

/**
 * Starts `binary` on 127.0.0.1:`port` with its configuration and data under `dir`
 * (`prometheus.yml`, `data/`), scraping `targets`. Its output is on the child's stdout and stderr.
 */
export function startPrometheus(binary: string, dir: string, port: number, targets: readonly ScrapeTarget[]): MeshPrometheus {
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  const config = path.join(dir, 'prometheus.yml');
  writeFileSync(config, prometheusConfig(targets));
  const child = spawn(
    binary,
    [`--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--storage.tsdb.retention.time=2d'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return { child, url: `http://127.0.0.1:${port}` };
}
