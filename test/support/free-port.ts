import net from 'node:net';

/** Below Linux's default ephemeral range (32768–60999): no `listen(0)` and no outgoing connection is handed these. */
const LOW = 20_000;
const HIGH = 32_767;

/**
 * A TCP port on 127.0.0.1 that is free now, for a server whose port must be known before it starts
 * (an issuer URL, a PostgreSQL node). It is drawn from below the ephemeral range, so the other
 * processes of a test, which listen on port 0 and connect out, cannot take it in the meantime.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port between ${LOW} and ${HIGH} on 127.0.0.1 after 100 tries`);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
