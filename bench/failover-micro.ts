/**
 * In-process cost of the gateway's failover loop per forwarded call, without any I/O:
 *   node dist/bench/failover-micro.js [--calls 100000] [--runs 7] [--in-flight 64] [--hedge-after 150]
 * Three fault domains (regional, global, backup) behind their opossum breakers, with stats,
 * outlier detection and the retry budget as the gateway builds them, whose transports answer at
 * once; `--in-flight` loops forward calls until `--calls` are done. Prints process CPU µs per
 * forwarded call (user + system), the median and every run, after three warm-up runs.
 */
import { Metadata } from '@grpc/grpc-js';
import { systemClock } from '../lib/clock/index.js';
import { FaultDomain } from '../gateway/routing/fault-domain.js';
import { Failover } from '../gateway/routing/failover.js';
import { SnapshotSource } from '../gateway/routing/health-snapshot.js';
import { RetryBudget } from '../gateway/routing/retry-budget.js';
import type { TokenBackend } from '../gateway/routing/token-backend.js';
import { argReader } from './proc-stat.js';

const ANSWER = Buffer.from('token');
const REQUEST = Buffer.from('request');

function answering(name: string): TokenBackend {
  return { name, address: `local://${name}`, call: () => Promise.resolve({ bytes: ANSWER, trailers: new Metadata() }), close: () => undefined };
}

async function main(argv: string[]): Promise<void> {
  const arg = argReader(argv);
  const calls = Number(arg('calls', '100000'));
  const runs = Number(arg('runs', '7'));
  const inFlight = Number(arg('in-flight', '64'));
  const domains = ['regional/eastus', 'global', 'backup'].map((name, priority) => new FaultDomain({ priority, backend: answering(name), clock: systemClock }));
  const failover = new Failover(domains, new SnapshotSource(domains, systemClock), new RetryBudget({}, systemClock), systemClock, { hedgeAfterMs: Number(arg('hedge-after', '150')) });
  const run = async (n: number): Promise<number> => {
    let left = n;
    const before = process.cpuUsage();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (left > 0) {
          left -= 1;
          const r = await failover.forward({ method: 'acquireToken', bytes: REQUEST });
          if (!r.ok) throw new Error(`forward failed: ${r.details}`);
        }
      }),
    );
    const used = process.cpuUsage(before);
    return (used.user + used.system) / n;
  };
  for (let i = 0; i < 3; i += 1) await run(calls / 2);
  const out: number[] = [];
  for (let i = 0; i < runs; i += 1) out.push(await run(calls));
  const sorted = [...out].sort((a, b) => a - b);
  console.log(`failover loop: ${sorted[sorted.length >> 1]!.toFixed(2)} µs CPU per forwarded call (median of ${runs} runs of ${calls}; runs ${out.map((v) => v.toFixed(2)).join(' ')})`);
  failover.close();
  for (const d of domains) d.close();
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
