import { request } from 'node:http';
import type { SpawnedService } from './spawn-service.js';
import { sleep } from './spawn-service.js';

/** The `/metrics` URL a process announced in its log ("metrics serving"). */
export async function metricsUrl(proc: SpawnedService, timeoutMs = 10_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    for (const line of proc.output) {
      const m = /"metrics":"(http:\/\/[^"]+)"/.exec(line);
      if (m !== null) return m[1]!;
    }
    if (Date.now() > until) throw new Error(`${proc.name} announced no metrics endpoint:\n${proc.output.slice(-10).join('\n')}`);
    await sleep(50);
  }
}

/** GET the Prometheus text. */
export function scrape(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, { timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

/** Value of the sample `name{...labels}` (labels matched as a subset); 0 when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = new Map([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) total += Number(m[3]);
  }
  return total;
}
