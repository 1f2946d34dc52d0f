import fs from 'node:fs';
import path from 'node:path';

/** Prints the functions of the one `.cpuprofile` in `profDir` that took the most samples, as shares of all samples. */

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export function printProfileSummary(profDir: string, top: number): void {
  const file = fs.readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error('no profile written');
  const profile = JSON.parse(fs.readFileSync(path.join(profDir, file), 'utf8')) as { nodes: ProfileNode[] };
  const total = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const byFn = new Map<string, number>();
  for (const n of profile.nodes) {
    const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, '')}:${n.callFrame.lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + (n.hitCount ?? 0));
  }
  console.log(`profile: ${path.join(profDir, file)}`);
  for (const [fn, hits] of [...byFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * hits) / total).toFixed(1).padStart(5)}%  ${fn}`);
  }
}
