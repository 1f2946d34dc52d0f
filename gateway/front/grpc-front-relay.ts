/** Relays every call the public front does not answer itself to the inner grpc-js server, stream for stream. */
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { status } from '@grpc/grpc-js';
import { respondStatus, trailersOf } from './grpc-front-wire.js';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** The connection to the inner server (opened on demand) and the calls relayed over it. */
export class InnerRelay {
  private inner: ClientHttp2Session | undefined;

  constructor(private readonly connect: () => ClientHttp2Session) {}

  /** Relays one call to the inner grpc-js server: headers, messages and trailers both ways. */
  relay(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const out: OutgoingHttpHeaders = {};
    for (const key in headers) if (key !== ':authority' && key !== ':scheme') out[key] = headers[key];
    let upstream: http2.ClientHttp2Stream;
    try {
      upstream = this.session().request(out);
    } catch (err) {
      respondStatus(stream, status.UNAVAILABLE, `gateway: ${(err as Error).message}`);
      return;
    }
    relayReply(upstream, stream);
    stream.on('data', (chunk: Buffer) => upstream.write(chunk));
    stream.on('end', () => upstream.end());
    stream.on('close', () => {
      if (!upstream.closed) upstream.close(NGHTTP2_CANCEL);
    });
  }

  destroy(): void {
    this.inner?.destroy();
  }

  private session(): ClientHttp2Session {
    if (this.inner === undefined || this.inner.closed || this.inner.destroyed) {
      const s = this.connect();
      s.on('error', () => undefined);
      s.once('close', () => {
        if (this.inner === s) this.inner = undefined;
      });
      s.unref();
      this.inner = s;
    }
    return this.inner;
  }
}

/** Sends the inner server's reply (headers, messages, trailers) back to the caller's stream. */
function relayReply(upstream: http2.ClientHttp2Stream, stream: ServerHttp2Stream): void {
  let trailers: IncomingHttpHeaders | undefined;
  upstream.on('response', (h, flags) => {
    if (stream.destroyed) return;
    const reply: OutgoingHttpHeaders = { ...h };
    if (((flags ?? 0) & NGHTTP2_FLAG_END_STREAM) !== 0) {
      stream.respond(reply, { endStream: true });
      return;
    }
    stream.respond(reply, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers(trailersOf(trailers)));
  });
  upstream.on('trailers', (t) => {
    trailers = t;
  });
  upstream.on('data', (chunk: Buffer) => {
    if (!stream.destroyed && stream.headersSent) stream.write(chunk);
  });
  upstream.on('end', () => {
    if (!stream.destroyed && stream.headersSent && !stream.writableEnded) stream.end();
  });
  upstream.on('error', () => undefined);
  upstream.on('close', () => {
    if (!stream.headersSent) respondStatus(stream, status.UNAVAILABLE, 'gateway: inner server closed the call');
    else if (!stream.writableEnded && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
  });
}
