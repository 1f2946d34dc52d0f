import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';

/** One span as received over OTLP/HTTP JSON, flattened with the service that sent it. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** OTLP span kind: 1 internal, 2 server, 3 client. */
  kind: number;
  service: string;
  /** Attributes of the resource that sent it (service.name, host.name, k8s.pod.name, …). */
  resource: Record<string, string | number | boolean>;
  startMs: number;
  durationMs: number;
  attributes: Record<string, string | number | boolean>;
  events: { name: string; timeMs: number; attributes: Record<string, string | number | boolean> }[];
  /** OTLP status: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
}

/** Options of {@link startOtlpReceiver}. */
export interface OtlpReceiverOptions {
  /** host:port; port 0 picks one. Default 127.0.0.1:4318. */
  listen?: string;
  /** Traces kept (oldest dropped first). Default 200. */
  maxTraces?: number;
  /** File rewritten with the kept spans (JSON array) shortly after each batch; none = memory only. */
  file?: string;
}

/** A running receiver. */
export interface OtlpReceiver {
  address: string;
  /** `http://host:port`, the value for OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint: string;
  /** Every kept span, oldest trace first. */
  spans(): ReceivedSpan[];
  close(): Promise<void>;
}

type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean; arrayValue?: { values?: AnyValue[] } };
type KeyValue = { key: string; value?: AnyValue };

function value(v: AnyValue | undefined): string | number | boolean {
  if (v === undefined) return '';
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map((x) => String(value(x))).join(',');
  return JSON.stringify(v);
}

function attributes(list: KeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list ?? []) out[kv.key] = value(kv.value);
  return out;
}

/** OTLP/JSON ids are hex; some senders use base64 as in the protobuf JSON mapping. */
function hexId(id: string | undefined, bytes: number): string | undefined {
  if (id === undefined || id === '') return undefined;
  if (new RegExp(`^[0-9a-f]{${bytes * 2}}$`, 'i').test(id)) return id.toLowerCase();
  const raw = Buffer.from(id, 'base64');
  return raw.length === bytes ? raw.toString('hex') : id;
}

const nanosToMs = (n: string | number | undefined): number => Number(BigInt(n ?? 0) / 1000n) / 1000;

/** Flattens an OTLP ExportTraceServiceRequest (JSON) into spans. */
export function flattenOtlpJson(body: unknown): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  const request = body as { resourceSpans?: { resource?: { attributes?: KeyValue[] }; scopeSpans?: { spans?: Record<string, unknown>[] }[] }[] };
  for (const rs of request.resourceSpans ?? []) {
    const resource = attributes(rs.resource?.attributes);
    const service = String(resource['service.name'] ?? 'unknown');
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const start = nanosToMs(s.startTimeUnixNano as string);
        const parent = hexId(s.parentSpanId as string | undefined, 8);
        const st = (s.status ?? {}) as { code?: number; message?: string };
        out.push({
          traceId: hexId(s.traceId as string, 16) ?? '',
          spanId: hexId(s.spanId as string, 8) ?? '',
          ...(parent === undefined ? {} : { parentSpanId: parent }),
          name: String(s.name ?? ''),
          kind: Number(s.kind ?? 0),
          service,
          resource,
          startMs: start,
          durationMs: nanosToMs(s.endTimeUnixNano as string) - start,
          attributes: attributes(s.attributes as KeyValue[]),
          events: ((s.events ?? []) as { name: string; timeUnixNano: string; attributes?: KeyValue[] }[]).map((e) => ({
            name: e.name,
            timeMs: nanosToMs(e.timeUnixNano),
            attributes: attributes(e.attributes),
          })),
          status: { code: Number(st.code ?? 0), ...(st.message ? { message: st.message } : {}) },
        });
      }
    }
  }
  return out;
}

/**
 * A minimal OTLP/HTTP trace receiver (JSON encoding, `POST /v1/traces`) that keeps the most recent
 * traces in memory and, optionally, in a file for `authmesh traces`. Protobuf bodies get 415 so a
 * sender configured for it fails visibly instead of silently losing spans.
 */
export async function startOtlpReceiver(options: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const listen = options.listen ?? '127.0.0.1:4318';
  const maxTraces = options.maxTraces ?? 200;
  const traces = new Map<string, ReceivedSpan[]>();
  let writeTimer: NodeJS.Timeout | undefined;
  const spans = (): ReceivedSpan[] => [...traces.values()].flat();
  const persist = (): void => {
    writeTimer = undefined;
    if (options.file === undefined) return;
    mkdirSync(path.dirname(options.file), { recursive: true });
    const tmp = `${options.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(spans()));
    renameSync(tmp, options.file);
  };
  const keep = (batch: ReceivedSpan[]): void => {
    for (const s of batch) {
      const list = traces.get(s.traceId);
      if (list === undefined) traces.set(s.traceId, [s]);
      else list.push(s);
    }
    while (traces.size > maxTraces) traces.delete(traces.keys().next().value!);
    if (options.file !== undefined && writeTimer === undefined) writeTimer = setTimeout(persist, 200);
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/v1/traces') {
      res.writeHead(404).end();
      return;
    }
    if (!(req.headers['content-type'] ?? '').includes('json')) {
      res.writeHead(415, { 'content-type': 'text/plain' }).end('only OTLP/HTTP JSON is accepted here\n');
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 16 * 1024 * 1024) chunks.push(c);
    });
    req.on('end', () => {
      try {
        keep(flattenOtlpJson(JSON.parse(Buffer.concat(chunks).toString('utf8'))));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      } catch {
        res.writeHead(400, { 'content-type': 'text/plain' }).end('bad OTLP JSON\n');
      }
    });
  };
  const server = createServer(handle);
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(listen.slice(at + 1)), host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address();
  const address = `${host}:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
  return {
    address,
    endpoint: `http://${address}`,
    spans,
    close: () =>
      new Promise<void>((resolve) => {
        if (writeTimer !== undefined) {
          clearTimeout(writeTimer);
          persist();
        }
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
