import type { ReceivedSpan } from './otlp-receiver.js';

/** One trace as a tree of spans. */
export interface TraceView {
  traceId: string;
  startMs: number;
  durationMs: number;
  /** Spans without a parent in the trace (normally one: the caller's or the gateway's). */
  roots: SpanNode[];
  spans: ReceivedSpan[];
}

export interface SpanNode {
  span: ReceivedSpan;
  children: SpanNode[];
}

/** Groups spans by trace and links them parent to child, newest trace first. */
export function buildTraces(spans: readonly ReceivedSpan[]): TraceView[] {
  const byTrace = new Map<string, ReceivedSpan[]>();
  for (const s of spans) {
    const list = byTrace.get(s.traceId);
    if (list === undefined) byTrace.set(s.traceId, [s]);
    else list.push(s);
  }
  const out: TraceView[] = [];
  for (const [traceId, list] of byTrace) {
    const nodes = new Map(list.map((s) => [s.spanId, { span: s, children: [] as SpanNode[] }]));
    const roots: SpanNode[] = [];
    for (const node of nodes.values()) {
      const parent = node.span.parentSpanId === undefined ? undefined : nodes.get(node.span.parentSpanId);
      if (parent === undefined) roots.push(node);
      else parent.children.push(node);
    }
    const byStart = (a: SpanNode, b: SpanNode): number => a.span.startMs - b.span.startMs;
    for (const node of nodes.values()) node.children.sort(byStart);
    roots.sort(byStart);
    const startMs = Math.min(...list.map((s) => s.startMs));
    const endMs = Math.max(...list.map((s) => s.startMs + s.durationMs));
    out.push({ traceId, startMs, durationMs: endMs - startMs, roots, spans: list });
  }
  return out.sort((a, b) => b.startMs - a.startMs);
}

/** A trace in which the gateway moved on from a fault domain, or routed around its home domain. */
export function isFailoverTrace(t: TraceView): boolean {
  return t.spans.some(
    (s) => (s.name === 'authmesh.attempt' && s.attributes['authmesh.failover.reason'] !== undefined) || s.attributes['authmesh.route.rerouted'] === true,
  );
}

const ms = (n: number): string => `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ms`;
const KIND = ['', '', 'server', 'client', 'producer', 'consumer'];

function describeSpan(s: ReceivedSpan): string {
  const a = s.attributes;
  const parts: string[] = [];
  if (s.name === 'authmesh.attempt') {
    parts.push(`attempt ${a['authmesh.attempt'] ?? '?'} → ${a['authmesh.fault_domain'] ?? '?'}`);
    parts.push(`breaker=${a['authmesh.breaker.state'] ?? '?'}`, `outcome=${a['authmesh.outcome'] ?? '?'}`);
    if (a['authmesh.failover.reason'] !== undefined) parts.push(`failover.reason=${a['authmesh.failover.reason']}`);
  } else {
    parts.push(s.name, `[${s.service}${KIND[s.kind] ? ` ${KIND[s.kind]}` : ''}]`);
    if (a['authmesh.fault_domain'] !== undefined) parts.push(`fault_domain=${a['authmesh.fault_domain']}`);
    if (a['authmesh.cache.result'] !== undefined) parts.push(`cache=${a['authmesh.cache.result']}`);
    if (a['authmesh.route.rerouted'] === true) parts.push(`rerouted order=${String(a['authmesh.route.order'])}`);
  }
  if (a['authmesh.data_age_ms'] !== undefined) parts.push(`data_age=${a['authmesh.data_age_ms']}ms`);
  parts.push(ms(s.durationMs));
  if (s.status.code === 2) parts.push(`ERROR${s.status.message ? ` ${s.status.message.slice(0, 120)}` : ''}`);
  return parts.join('  ');
}

/** The trace as an indented tree, one line per span and per span event. */
export function renderTrace(t: TraceView): string {
  const lines = [`trace ${t.traceId}  ${new Date(t.startMs).toISOString()}  ${ms(t.durationMs)}${isFailoverTrace(t) ? '  FAILOVER' : ''}`];
  const walk = (node: SpanNode, prefix: string, last: boolean): void => {
    lines.push(`${prefix}${last ? '└─ ' : '├─ '}${describeSpan(node.span)}`);
    const inner = `${prefix}${last ? '   ' : '│  '}`;
    for (const e of node.span.events) lines.push(`${inner}${node.children.length > 0 ? '│' : ' '}  * ${e.name} ${Object.entries(e.attributes).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    node.children.forEach((c, i) => walk(c, inner, i === node.children.length - 1));
  };
  t.roots.forEach((r, i) => walk(r, '', i === t.roots.length - 1));
  return lines.join('\n');
}
