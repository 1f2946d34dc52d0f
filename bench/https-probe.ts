/**
 * Where the gateway's HTTPS front spends its time on client_secret_post, measured with h2load --h1:
 *   node dist/bench/https-probe.js [--connections 64] [--seconds 8] [--rounds 1] [--rate N] [--floor] [--front-floor] [--oidc]
 *        [--prof gateway-eastus|regional-eastus|https-floor|https-front-floor] [--top 40]
 * Starts global, regional and gateway (2 channels, relay) with the HTTPS front and its
 * development certificate, registers one workload with a client secret, then runs h2load --h1
 * (one request in flight per connection) against the token endpoint and prints calls/s and, per
 * process, CPU µs per call and its share of a core (/proc/<pid>/stat, see h2load-suite.ts).
 * With --rate, h2load offers that many calls/s in all instead of as many as are answered, so
 * CPU per call compares at the same load (a process's per-turn costs are shared by fewer calls
 * when it is less busy).
 * With --floor, a bare node:https server with the same certificate and TLS options answering the
 * gateway's sampled token response (bench/anchors/https-floor.ts) runs in the same rounds,
 * interleaved: what node's HTTP/1.1 + TLS costs on its own. With --front-floor, the gateway's
 * HTTPS front itself in a process of its own, answering each token request at once with the
 * sampled token instead of forwarding it (bench/anchors/https-front-floor.ts): the front's own
 * code over the floor, without the failover loop, the relay and regional. With --oidc, node-oidc-provider's
 * client_secret_post over plain HTTP/1.1 (bench/anchors/oidc-peer.ts, as in `make bench`) runs in
 * the same rounds, so the two compare on the same machine minute. With --prof, that process runs with
 * --cpu-prof and its hottest functions are printed. 127.0.0.1 only; bounded in time.
 */
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { TestMesh, RESOURCE } from '../test/support/mesh-harness.js';
import { freePort } from '../test/support/free-port.js';
import { spawnService, type SpawnedService } from '../test/support/spawn-service.js';
import { requireH2load } from './h2load.js';
import { printProfileSummary } from './cpu-profile-summary.js';
import { argReader } from './proc-stat.js';
import { runSuite, type SuiteTarget } from './h2load-suite.js';
import { PEER_RESOURCE, PEER_SECRET } from './anchors/oidc-peer.js';
import { startProbeDomains } from './mesh.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** One token request over HTTPS, trusting `ca`: the status, the headers a floor would repeat, and the body. */
function sample(url: string, body: Buffer, ca: string): Promise<{ status: number; headers: Record<string, string>; body: string; cipher: string; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'POST', ca, headers: { ...FORM, 'content-length': String(body.length) }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string' && !['date', 'connection', 'keep-alive', 'content-length'].includes(k)) headers[k] = v;
        const socket = res.socket as TLSSocket;
        resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('utf8'), cipher: socket.getCipher().name, protocol: socket.getProtocol() ?? '' });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function listening(p: SpawnedService): Promise<string> {
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    const m = /"listening":"(127\.0\.0\.1:\d+)"/.exec(p.output.find((l) => l.includes('"listening"')) ?? '');
    if (m !== null) return m[1]!;
    if (p.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${p.name} did not start:\n${p.output.slice(-20).join('\n')}`);
}

async function main(argv: string[]): Promise<void> {
  const arg = argReader(argv);
  const bin = requireH2load();
  const prof = arg('prof', '');
  const profDir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-prof-'));
  const profEnv = (name: string): Record<string, string> => (prof === name ? { AUTHMESH_NODE_FLAGS: `--cpu-prof --cpu-prof-dir=${profDir}` } : {});
  const mesh = new TestMesh();
  let floor: SpawnedService | undefined;
  let frontFloor: SpawnedService | undefined;
  let peer: SpawnedService | undefined;
  try {
    await startProbeDomains(mesh, profEnv('regional-eastus'));
    const httpListen = `127.0.0.1:${await freePort()}`;
    const gatewayDir = path.join(mesh.dir, 'gateway-eastus');
    await mesh.start('gateway-eastus', 'gateway/main.js', (port) => [
      '--region', 'eastus', '--listen', `127.0.0.1:${port}`, '--regional', mesh.address('regional-eastus'), '--global', mesh.address('global'),
      '--channels', '2', '--http-listen', httpListen, '--data-dir', gatewayDir,
    ], profEnv('gateway-eastus'));
    const w = await mesh.addWorkload('probe');
    const { secret } = await mesh.adminCall<{ secret: string }>((c) => (m, o, cb) => c.addSecretCredential({ tenantId: w.tenantId, clientId: w.clientId, lifetimeSeconds: 0 }, m, o, cb));
    const url = `https://${httpListen}/${w.tenantId}/oauth2/v2.0/token`;
    const body = Buffer.from(new URLSearchParams({ grant_type: 'client_credentials', scope: `${RESOURCE}/.default`, client_id: w.clientId, client_secret: secret }).toString());
    const ca = fs.readFileSync(path.join(gatewayDir, 'tls', 'ca.pem'), 'utf8');
    const first = await sample(url, body, ca);
    if (first.status !== 200) throw new Error(`sampled token request: HTTP ${first.status} ${first.body}`);
    console.log(`sampled: HTTP ${first.status}, ${first.protocol} ${first.cipher} (node client), ${first.body.length} body bytes, headers ${JSON.stringify(Object.keys(first.headers))}`);
    const gw = mesh.procs.get('gateway-eastus')!.pid;
    const regional = mesh.procs.get('regional-eastus')!.pid;
    console.log(`pids: gateway ${gw}, regional ${regional}`);
    const targets: SuiteTarget[] = [
      { name: 'https-front', description: 'gateway HTTPS front → regional, client_secret_post', url, body, headers: FORM, h1: true, grpc: false, pids: { gateway: gw, regional } },
    ];
    const responseFile = path.join(mesh.dir, 'floor-response.json');
    fs.writeFileSync(responseFile, JSON.stringify(first));
    if (argv.includes('--floor') || prof === 'https-floor') {
      floor = spawnService('https-floor', 'bench/anchors/https-floor.js', ['--data-dir', gatewayDir, '--response', responseFile], profEnv('https-floor'));
      const floorAddr = await listening(floor);
      targets.push({ name: 'floor', description: 'bare node:https, same certificate and body', url: `https://${floorAddr}/token`, body, headers: FORM, h1: true, grpc: false, pids: { floor: floor.pid } });
    }
    if (argv.includes('--front-floor') || prof === 'https-front-floor') {
      frontFloor = spawnService('https-front-floor', 'bench/anchors/https-front-floor.js', ['--data-dir', gatewayDir, '--response', responseFile], profEnv('https-front-floor'));
      const frontAddr = await listening(frontFloor);
      const frontUrl = `https://${frontAddr}/${w.tenantId}/oauth2/v2.0/token`;
      targets.push({ name: 'front-floor', description: 'the HTTPS front answering at once, no domain', url: frontUrl, body, headers: FORM, h1: true, grpc: false, pids: { 'front-floor': frontFloor.pid } });
    }
    if (argv.includes('--oidc')) {
      const jwk = JSON.stringify(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }));
      peer = spawnService('h2load-oidc-peer', 'bench/anchors/oidc-peer.js', ['--client-jwk', jwk]);
      const peerBody = new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', resource: PEER_RESOURCE, client_id: 'bench-secret', client_secret: PEER_SECRET });
      targets.push({ name: 'oidc', description: 'node-oidc-provider client_secret_post (HTTP/1.1)', url: `http://${await listening(peer)}/token`, body: Buffer.from(peerBody.toString()), headers: FORM, h1: true, grpc: false, pids: { 'oidc-provider': peer.pid } });
    }
    const connections = Number(arg('connections', '64'));
    const rate = arg('rate', '');
    const shape = { inFlight: connections, connections, durationS: Number(arg('seconds', '8')), warmupS: 2, ...(rate === '' ? {} : { rate: Number(rate) }) };
    const rows = await runSuite(bin, targets, shape, Number(arg('rounds', '1')), console.log);
    for (const row of rows) {
      console.log(`${row.name}: ${Math.round(row.rps.median)} calls/s (median), mean ${row.meanMs.median} ms, not 2xx ${row.failed}; CPU µs/call ${JSON.stringify(row.cpuUsPerCall)}; busy % ${JSON.stringify(row.busyPct)}`);
    }
    if (prof === 'https-floor') await floor?.stop(10_000);
    else if (prof === 'https-front-floor') await frontFloor?.stop(10_000);
    else if (prof !== '') await mesh.procs.get(prof)?.stop(10_000);
  } finally {
    await floor?.stop(3000);
    await frontFloor?.stop(3000);
    await peer?.stop(3000);
    await mesh.stop();
  }
  if (prof === '') return;
  printProfileSummary(profDir, Number(arg('top', '40')));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
