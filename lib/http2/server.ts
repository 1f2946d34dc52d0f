/** A listening HTTP/2 server of {@link ServerConnection}s: h2c over TCP, or TLS with ALPN h2; connection age and graceful close. */
import net, { type AddressInfo, type Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { limitConnectionAge, type ConnectionAgeLimits } from '../grpc/connection-age.js';
import { CONNECTION_LIMITS, ServerConnection, type ConnectionLimits } from './server-connection.js';
import type { ServerStream } from './server-stream.js';

/** Options of {@link listenHttp2}. */
export interface Http2ServerOptions {
  /** `host:port`; port 0 picks a free one. */
  listen: string;
  /** TLS certificate and key (PEM): TLS with ALPN h2 only; plaintext h2 (prior knowledge) when undefined. */
  tls?: { cert: Buffer; key: Buffer };
  limits?: Partial<ConnectionLimits>;
  /** When a connection gets GOAWAY so the caller reconnects; the grace its calls get after. */
  connectionAge?: ConnectionAgeLimits;
  onStream(stream: ServerStream): void;
  /** A stream handler's own failure; the connection it happened on is closed. */
  onError(err: unknown): void;
  random?: () => number;
}

/** The server while it listens. */
export interface RunningHttp2Server {
  host: string;
  port: number;
  /** Connections open now. */
  readonly connections: number;
  /** Stops accepting, sends every connection GOAWAY, waits up to graceMs for their streams, then closes them. */
  close(graceMs: number): Promise<void>;
}

export async function listenHttp2(opts: Http2ServerOptions): Promise<RunningHttp2Server> {
  const limits: ConnectionLimits = { ...CONNECTION_LIMITS, ...opts.limits };
  const connections = new Set<ServerConnection>();
  const accept = (socket: Socket | TLSSocket): void => {
    socket.setNoDelay(true);
    const conn = new ServerConnection(socket, opts.onStream, limits, Date.now, opts.onError);
    connections.add(conn);
    const stopAge = opts.connectionAge === undefined ? undefined : limitConnectionAge(conn, opts.connectionAge, opts.random);
    conn.onclose = () => {
      connections.delete(conn);
      stopAge?.();
    };
  };
  const server =
    opts.tls === undefined
      ? net.createServer(accept)
      : tls.createServer({ cert: opts.tls.cert, key: opts.tls.key, ALPNProtocols: ['h2'], minVersion: 'TLSv1.2' }, (socket) => {
          // Only h2 is spoken here: a client that did not choose it by ALPN is not one of ours.
          if (socket.alpnProtocol !== 'h2') socket.destroy();
          else accept(socket);
        });
  server.on('tlsClientError', () => undefined);
  const at = opts.listen.lastIndexOf(':');
  const host = opts.listen.slice(0, at);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(opts.listen.slice(at + 1)), host.replace(/^\[|\]$/g, ''), () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    host,
    port: (server.address() as AddressInfo).port,
    get connections() {
      return connections.size;
    },
    async close(graceMs: number) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const c of connections) c.shutdown();
      if ([...connections].some((c) => c.openStreams > 0)) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, graceMs);
          timer.unref();
          const poll = setInterval(() => {
            if ([...connections].every((c) => c.openStreams === 0)) {
              clearInterval(poll);
              clearTimeout(timer);
              resolve();
            }
          }, 10);
          poll.unref();
        });
      }
      for (const c of connections) c.destroy();
      await closed;
    },
  };
}
