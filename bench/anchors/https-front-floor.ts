/**
 * The gateway's HTTPS front on its own: `startHttpFront` with the front's certificate and options,
 * in front of a forwarder that answers every token request at once with the sampled token
 * (encoded as the AcquireTokenResponse a domain sends) instead of the failover loop and a domain.
 * Beside bench/anchors/https-floor.ts (node:https alone) it shows what the front's own code
 * costs per request: routing, form, request encoding, answer decoding and writing.
 *   node dist/bench/anchors/https-front-floor.js --data-dir DIR --response FILE
 * DIR and FILE as for https-floor.js. Prints `{"listening":"127.0.0.1:<port>"}`. Bench anchor only.
 */
import fs from 'node:fs';
import { Metadata } from '@grpc/grpc-js';
import { AcquireTokenResponse } from '../../gen/authmesh/token/v1/token.js';
import { startHttpFront } from '../../gateway/front/http-server.js';
import type { Forwarder, ForwardResult } from '../../gateway/routing/forwarder.js';
import { silentLogger } from '../../lib/log/index.js';
import { DEFAULT_ISSUER } from '../../lib/token/index.js';

async function main(argv: string[]): Promise<void> {
  const arg = (name: string): string => {
    const i = argv.indexOf(`--${name}`);
    if (i < 0 || argv[i + 1] === undefined) throw new Error(`--${name} is required`);
    return argv[i + 1]!;
  };
  const response = JSON.parse(fs.readFileSync(arg('response'), 'utf8')) as { headers: Record<string, string>; body: string };
  const token = JSON.parse(response.body) as { access_token: string; token_type: string; expires_in: number; refresh_in: number };
  const domain = response.headers['authmesh-fault-domain'] ?? 'regional/eastus';
  const bytes = Buffer.from(
    AcquireTokenResponse.encode({ accessToken: token.access_token, tokenType: token.token_type, expiresIn: token.expires_in, refreshIn: token.refresh_in, faultDomain: domain }).finish(),
  );
  // A new trailers object per answer, as the relay decodes one per reply.
  const answer: Forwarder = { forward: (): Promise<ForwardResult> => Promise.resolve({ ok: true, bytes, trailers: new Metadata(), domain, attempts: 1 }) };
  const front = await startHttpFront(
    { listen: '127.0.0.1:0', issuer: DEFAULT_ISSUER, publicUrl: undefined, plaintext: false, tlsCertFile: undefined, tlsKeyFile: undefined, dataDir: arg('data-dir'), maxBodyBytes: 65536 },
    { failover: answer, log: silentLogger() },
  );
  console.log(JSON.stringify({ listening: front.address }));
  process.on('SIGTERM', () => {
    void front.close().then(() => process.exit(0));
  });
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
