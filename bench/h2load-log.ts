/**
 * h2load's `--log-file`: one tab-separated line per request closed in the measured window, with
 * the request's start (µs since the epoch, when its HEADERS frame was sent), its HTTP status (-1
 * for a failed stream) and the µs from that start to the end of the response (nghttp2 1.52).
 */

/** One logged request. */
export interface H2loadLogEntry {
  startUs: number;
  status: number;
  durationUs: number;
}

/**
 * Parses a log, keeping the requests that started at or after `fromUs`. h2load also logs a
 * request started during `--warm-up-time` and closed after it; `fromUs` drops those.
 */
export function parseH2loadLog(text: string, fromUs = 0): H2loadLogEntry[] {
  const out: H2loadLogEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const f = line.split('\t');
    if (f.length < 3) throw new Error(`h2load log line with ${f.length} columns: ${JSON.stringify(line)}`);
    const [startUs, status, durationUs] = f.slice(0, 3).map(Number) as [number, number, number];
    if (![startUs, status, durationUs].every(Number.isFinite)) throw new Error(`h2load log line not numeric: ${JSON.stringify(line)}`);
    if (startUs >= fromUs) out.push({ startUs, status, durationUs });
  }
  return out;
}

/** The nearest-rank percentile `p` (0–100) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  // 99.9 × 41,000 / 100 is 40,959.00000000001 in floating point: the epsilon keeps the rank at 40,959.
  const rank = Math.ceil((p * sorted.length) / 100 - 1e-9);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Latency of the logged requests, ms; `failed` counts requests not answered with HTTP 200. */
export interface LogLatency {
  calls: number;
  failed: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** Percentiles over every logged request, failed ones included (a failed call's time is a call's time too). */
export function logLatency(entries: readonly H2loadLogEntry[]): LogLatency {
  const ms = entries.map((e) => e.durationUs / 1000).sort((a, b) => a - b);
  const r = (v: number): number => Math.round(v * 100) / 100;
  return {
    calls: entries.length,
    failed: entries.filter((e) => e.status !== 200).length,
    p50: r(percentile(ms, 50)),
    p99: r(percentile(ms, 99)),
    p999: r(percentile(ms, 99.9)),
    max: r(ms[ms.length - 1] ?? NaN),
  };
}
