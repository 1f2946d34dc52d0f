/** Relays every call the public front does not answer itself to the inner grpc-js server, stream for stream. */
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { status } from '@grpc/grpc-js';
import type { ServerStream } from '../../lib/http2/server-stream.js';
import { fieldsOf, respondStatus, trailersOf } from './grpc-front-wire.js';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** The connection to the inner server (opened on demand) and the calls relayed over it. */
export class InnerRelay {
  private inner: ClientHttp2Session | undefined;

  constructor(private readonly connect: () => ClientHttp2Session) {}

  /**
   * Relays one call to the inner grpc-js server: headers, messages and trailers both ways, each
   * direction held to what the other side reads (the caller's window stays shut while the inner
   * server has not taken what came, and the inner stream pauses while the caller's window is full).
   */
  relay(stream: ServerStream): void {
    const out: OutgoingHttpHeaders = {};
    for (const key in stream.headers) if (key !== ':authority' && key !== ':scheme') out[key] = stream.headers[key];
    let upstream: http2.ClientHttp2Stream;
    try {
      upstream = this.session().request(out);
    } catch (err) {
      respondStatus(stream, status.UNAVAILABLE, `gateway: ${(err as Error).message}`);
      return;
    }
    relayReply(upstream, stream);
    stream.ondata = (chunk: Buffer) => {
      if (upstream.write(chunk) || stream.paused) return;
      stream.pause();
      upstream.once('drain', () => stream.resume());
    };
    stream.onend = () => upstream.end();
    stream.onclose = () => {
      if (!upstream.closed) upstream.close(NGHTTP2_CANCEL);
    };
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
function relayReply(upstream: http2.ClientHttp2Stream, stream: ServerStream): void {
  let trailers: IncomingHttpHeaders | undefined;
  upstream.on('response', (h, flags) => {
    if (stream.destroyed) return;
    stream.respond(fieldsOf(h), ((flags ?? 0) & NGHTTP2_FLAG_END_STREAM) !== 0);
  });
  upstream.on('trailers', (t) => {
    trailers = t;
  });
  upstream.on('data', (chunk: Buffer) => {
    if (stream.destroyed || !stream.headersSent || stream.write(chunk)) return;
    upstream.pause();
    stream.ondrain = () => upstream.resume();
  });
  upstream.on('end', () => {
    if (!stream.destroyed && stream.headersSent && !stream.writableEnded) stream.end(trailersOf(trailers));
  });
  upstream.on('error', () => undefined);
  upstream.on('close', () => {
    if (!stream.headersSent) respondStatus(stream, status.UNAVAILABLE, 'gateway: inner server closed the call');
    else if (!stream.writableEnded && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
  });
}
