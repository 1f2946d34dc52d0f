/** A request's decoded header fields as node's header object, checked as RFC 9113 section 8.2 and 8.3.1 require. */
import type { IncomingHttpHeaders } from 'node:http';

/** Fields that belong to an HTTP/1.1 connection and make an HTTP/2 request malformed. */
const CONNECTION_FIELDS: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

const REQUEST_PSEUDO: ReadonlySet<string> = new Set([':method', ':scheme', ':path', ':authority']);

/**
 * The header object of a request (`fields` as [name, value, ...], names lowercase as HPACK
 * delivered them), or why the request is malformed: a pseudo-header unknown, repeated, empty or
 * after a regular field, `:method`/`:scheme`/`:path` missing, a connection-specific field, or `te`
 * other than `trailers`. Repeated regular fields become arrays, as node's `IncomingHttpHeaders` do
 * for fields it does not join (`Metadata.fromHttp2Headers` reads both).
 */
export function requestHeaders(fields: readonly string[]): IncomingHttpHeaders | string {
  // No prototype: a field named __proto__ or constructor is just a field.
  const headers = Object.create(null) as IncomingHttpHeaders;
  let regularSeen = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (regularSeen) return `pseudo-header ${name} after a regular field`;
      if (!REQUEST_PSEUDO.has(name)) return `pseudo-header ${name} is not one of a request`;
      if (headers[name] !== undefined) return `pseudo-header ${name} repeated`;
      if (value === '' && name !== ':authority') return `pseudo-header ${name} is empty`;
      headers[name] = value;
      continue;
    }
    regularSeen = true;
    if (CONNECTION_FIELDS.has(name)) return `connection-specific field ${name}`;
    if (name === 'te' && value !== 'trailers') return 'te other than "trailers"';
    const seen = headers[name];
    if (seen === undefined) headers[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else headers[name] = [seen, value];
  }
  if (headers[':method'] === undefined || headers[':scheme'] === undefined || headers[':path'] === undefined) return 'request without :method, :scheme or :path';
  return headers;
}
