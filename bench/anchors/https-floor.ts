/**
 * The floor of the HTTPS front: a bare node:https server with the front's certificate and TLS
 * options that reads each request body and answers one fixed response (status, headers, JSON
 * body, as sampled from the gateway's token endpoint). What HTTP/1.1 + TLS costs node on its own.
 *   node dist/bench/anchors/https-floor.js --data-dir DIR --response FILE
 * DIR is the gateway's `--data-dir` (its development certificate is reused); FILE holds
 * `{"status":200,"headers":{...},"body":"..."}`. Prints `{"listening":"127.0.0.1:<port>"}`. Bench anchor only.
 */
import fs from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { httpsServerOptions, resolveHttpTls } from '../../gateway/front/http-tls.js';
import { DEFAULT_ISSUER } from '../../lib/token/index.js';

function main(argv: string[]): void {
  const arg = (name: string): string => {
    const i = argv.indexOf(`--${name}`);
    if (i < 0 || argv[i + 1] === undefined) throw new Error(`--${name} is required`);
    return argv[i + 1]!;
  };
  const response = JSON.parse(fs.readFileSync(arg('response'), 'utf8')) as { status: number; headers: Record<string, string>; body: string };
  const tls = resolveHttpTls({ listen: '127.0.0.1:0', issuer: DEFAULT_ISSUER, publicUrl: undefined, plaintext: false, tlsCertFile: undefined, tlsKeyFile: undefined, dataDir: arg('data-dir'), maxBodyBytes: 65536 });
  if (tls === undefined) throw new Error('no certificate');
  const body = Buffer.from(response.body);
  const headers = { ...response.headers, 'content-length': String(body.length) };
  const server = https.createServer(httpsServerOptions(tls), (req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      res.writeHead(response.status, headers);
      res.end(body);
    });
  });
  server.keepAliveTimeout = 5_000;
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ listening: `127.0.0.1:${(server.address() as AddressInfo).port}` })));
  process.on('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  });
}

if (require.main === module) main(process.argv.slice(2));
