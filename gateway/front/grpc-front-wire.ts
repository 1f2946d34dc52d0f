/** The gRPC wire as the public front speaks it: the token methods it answers, the metadata it forwards, and status replies. */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { Metadata, status } from '@grpc/grpc-js';
import type { Attributes } from '@opentelemetry/api';
import { invalidRequest } from '../../lib/errors/index.js';
import { toStatus } from '../../lib/grpc/index.js';
import { encodeStatusMessage, frame } from '../../lib/grpc/framing.js';
import { decodesAsStringMessage } from '../../lib/grpc/wire-check.js';
import { encodeFields } from '../../lib/http2/hpack.js';
import type { ServerStream } from '../../lib/http2/server-stream.js';
import { methodPath, TOKEN_SERVICE_NAME, wireMethodName, type TokenMethod } from '../pass-through.js';

/** The headers of every gRPC answer, encoded once. */
const GRPC_HEADERS = [':status', '200', 'content-type', 'application/grpc'] as const;
const GRPC_HEADERS_BLOCK = encodeFields(GRPC_HEADERS);

/** A token method the front answers, with its server span's name and attributes made once. */
export interface FrontMethod {
  method: TokenMethod;
  spanName: string;
  attributes: Attributes;
  /** `method` label of the request metrics. */
  wireName: string;
  /** Whether the bytes decode as the method's request message. */
  decodes(bytes: Buffer): boolean;
}

export const TOKEN_PATHS: ReadonlyMap<string, FrontMethod> = new Map(
  (['acquireToken', 'getJwks'] as const).map((method) => [
    methodPath(method),
    {
      method,
      spanName: `grpc.${TOKEN_SERVICE_NAME}/${wireMethodName(method)}`,
      attributes: { 'rpc.system': 'grpc', 'rpc.service': TOKEN_SERVICE_NAME, 'rpc.method': wireMethodName(method) },
      wireName: wireMethodName(method),
      // Both request messages hold strings only: a wire-format walk answers as their decoders do
      // (test/fuzz/wire-check.test.ts) without building the message.
      decodes: decodesAsStringMessage,
    },
  ]),
);

/**
 * Request headers that belong to the caller's connection or call framing and are not forwarded.
 * `accept-encoding` (grpc-js sends it on every call) and `content-length` (h2load and other
 * HTTP/2 clients that know their body's size) describe this hop's HTTP body: as metadata they
 * would cost each call a metadata object here and a merged copy of the relay stream's at the domain.
 */
const TRANSPORT_HEADERS: ReadonlySet<string> = new Set(['user-agent', 'content-type', 'te', 'host', 'accept-encoding', 'content-length']);

function isTransportHeader(key: string): boolean {
  return key.startsWith(':') || key.startsWith('grpc-') || TRANSPORT_HEADERS.has(key);
}

/** The caller's metadata minus transport headers, or undefined when nothing is left (the usual case). */
export function forwardableMetadata(headers: IncomingHttpHeaders): Metadata | undefined {
  let any = false;
  for (const key in headers) if (!isTransportHeader(key)) any = true;
  if (!any) return undefined;
  const md = Metadata.fromHttp2Headers(headers);
  for (const key of Object.keys(md.getMap())) if (isTransportHeader(key)) md.remove(key);
  return md;
}

/** The caller's error for bytes that are not a request: its status, INTERNAL made INVALID_ARGUMENT, and `oauth-error: invalid_request`. */
export function badRequest(code: status, details: string): ReturnType<typeof toStatus> {
  const s = toStatus(invalidRequest(details));
  return { ...s, code: code === status.INTERNAL || code === status.INVALID_ARGUMENT ? status.INVALID_ARGUMENT : code };
}

/** Header fields ([name, value, ...]) of a header object; pseudo-headers first, repeated values as repeated fields. */
export function fieldsOf(headers: OutgoingHttpHeaders | IncomingHttpHeaders): string[] {
  const pseudo: string[] = [];
  const regular: string[] = [];
  for (const key in headers) {
    const value = headers[key];
    if (value === undefined) continue;
    const to = key.startsWith(':') ? pseudo : regular;
    if (Array.isArray(value)) for (const v of value) to.push(key, String(v));
    else to.push(key, String(value));
  }
  return pseudo.length === 0 ? regular : pseudo.concat(regular);
}

/** Trailer fields of a gRPC status: the custom metadata, grpc-status and grpc-message. */
function statusTrailers(code: status, details: string, metadata: Metadata | undefined): string[] {
  const out = metadata === undefined ? [] : fieldsOf(metadata.toHttp2Headers());
  out.push('grpc-status', String(code));
  if (details !== '') out.push('grpc-message', encodeStatusMessage(details));
  return out;
}

/** A status with no message sent ("trailers-only"). */
export function respondStatus(stream: ServerStream, code: status, details: string, metadata?: Metadata): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond([...GRPC_HEADERS, ...statusTrailers(code, details, metadata)], true);
}

/** One message and then the status in trailers. */
export function respondMessage(stream: ServerStream, bytes: Buffer, trailers: Metadata): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respondBlock(GRPC_HEADERS_BLOCK);
  stream.write(frame(bytes));
  stream.end(statusTrailers(status.OK, '', trailers));
}

/** The trailer fields to relay: what the inner server sent, or a status when it sent none. */
export function trailersOf(t: IncomingHttpHeaders | undefined): string[] {
  if (t === undefined) return ['grpc-status', String(status.UNAVAILABLE), 'grpc-message', encodeStatusMessage('gateway: inner server sent no status')];
  const out: IncomingHttpHeaders = {};
  for (const key in t) if (!key.startsWith(':')) out[key] = t[key];
  return fieldsOf(out);
}
