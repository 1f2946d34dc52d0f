/**
 * `node dist/cli/health-probe.js [--service NAME]`: a Kubernetes exec probe that asks the
 * grpc.health.v1 service of the process in the same container, over the transport its port
 * speaks. The kubelet's own gRPC probe speaks plaintext only, and in production mode every port
 * is TLS (mutual TLS inside the mesh, server TLS on the gateway's public port).
 *
 * Reads the container's env: AUTHMESH_LISTEN (the port), AUTHMESH_GRPC_TLS (public TLS, the
 * gateway), AUTHMESH_MESH_CA / _CERT / _KEY (mutual TLS). Exit 0 when SERVING, 1 otherwise.
 */
import { readFileSync } from 'node:fs';
import { credentials, makeGenericClientConstructor, type ChannelCredentials } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

type Check = (req: { service: string }, opts: { deadline: number }, cb: (err: Error | null, res?: { status: number | string }) => void) => void;

/** Credentials for asking our own process on loopback. */
export function probeCredentials(env: NodeJS.ProcessEnv): ChannelCredentials {
  // The peer is this container's own process on 127.0.0.1, not a name its certificate carries.
  const ownProcess = { checkServerIdentity: () => undefined };
  if (env.AUTHMESH_GRPC_TLS === 'true') {
    // The public certificate may chain to a root this image does not hold; the probe talks to
    // itself over loopback, so only the handshake and the health answer matter here.
    return credentials.createSsl(null, null, null, { ...ownProcess, rejectUnauthorized: false });
  }
  const [ca, cert, key] = [env.AUTHMESH_MESH_CA, env.AUTHMESH_MESH_CERT, env.AUTHMESH_MESH_KEY];
  if (ca && cert && key) return credentials.createSsl(readFileSync(ca), readFileSync(key), readFileSync(cert), ownProcess);
  return credentials.createInsecure();
}

export async function probe(env: NodeJS.ProcessEnv, service: string, timeoutMs = 3000): Promise<string> {
  const listen = env.AUTHMESH_LISTEN ?? '';
  const port = listen.slice(listen.lastIndexOf(':') + 1);
  if (!/^\d+$/.test(port)) throw new Error(`AUTHMESH_LISTEN is not host:port: "${listen}"`);
  const Health = makeGenericClientConstructor(healthService, 'Health');
  const creds = probeCredentials(env);
  // TLS never sends an IP address as the server name (RFC 6066): name the peer `localhost`.
  const client = new Health(`127.0.0.1:${port}`, creds, creds._isSecure() ? { 'grpc.ssl_target_name_override': 'localhost' } : {});
  try {
    const check = (client as unknown as { check: Check }).check.bind(client);
    const res = await new Promise<{ status: number | string } | undefined>((resolve, reject) =>
      check({ service }, { deadline: Date.now() + timeoutMs }, (err, r) => (err ? reject(err) : resolve(r))),
    );
    return String(res?.status ?? 'UNKNOWN');
  } finally {
    client.close();
  }
}

if (require.main === module) {
  const i = process.argv.indexOf('--service');
  const service = i >= 0 ? (process.argv[i + 1] ?? '') : '';
  probe(process.env, service).then(
    (s) => {
      process.stdout.write(`${service || '(server)'}: ${s}\n`);
      // Exit at once: a probe has its own timeout, and nothing is left to finish.
      process.exit(s === 'SERVING' || s === '1' ? 0 : 1);
    },
    (err: unknown) => {
      process.stdout.write(`health probe failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
