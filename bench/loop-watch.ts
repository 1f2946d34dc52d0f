/**
 * Preloaded into a mesh process by bench/open-loop-probe.ts (AUTHMESH_NODE_FLAGS="--require …"):
 * prints one JSON line per garbage collection of 1 ms or more and per event-loop stall of 2 ms
 * or more, each with its wall-clock end time, so a slow call can be set beside them.
 */
import { PerformanceObserver } from 'node:perf_hooks';

const KINDS: Record<number, string> = { 1: 'scavenge', 2: 'mark-compact', 4: 'incremental', 8: 'weak-callbacks' };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0;
    if (e.duration >= 1) console.log(JSON.stringify({ loopWatch: 'gc', kind: KINDS[kind] ?? String(kind), ms: Math.round(e.duration * 100) / 100, at: Date.now() }));
  }
}).observe({ entryTypes: ['gc'] });

// A 2 ms timer: how late it fires is how long the loop was held up (by anything: GC, a long
// callback, or the process waiting for a core).
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  const stall = now - last - 2;
  if (stall >= 2) console.log(JSON.stringify({ loopWatch: 'stall', ms: Math.round(stall * 100) / 100, at: Date.now() }));
  last = now;
}, 2).unref();
