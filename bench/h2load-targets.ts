/**
 * The targets of the h2load section, like for like: the grpc-js echo floor, the one-process
 * verify+sign anchor and the gateway with a reused assertion; the gateway with a client secret;
 * node-oidc-provider client_secret_post and the gateway's HTTPS front with client_secret_post
 * over HTTP/1.1. (private_key_jwt cannot be driven by h2load: it sends one body over and over,
 * and node-oidc-provider rightly refuses a replayed assertion `jti`; the lean client covers it.)
 */
import { generateKeyPairSync } from 'node:crypto';
import { spawnService, type SpawnedService } from '../test/support/spawn-service.js';
import { AcquireTokenRequest } from '../gen/authmesh/token/v1/token.js';
import { RESOURCE } from '../test/support/mesh-harness.js';
import { ECHO_PATH } from './anchors/echo-server.js';
import { PEER_RESOURCE, PEER_SECRET } from './anchors/oidc-peer.js';
import { ANCHOR_PATH } from './anchors/verify-sign-server.js';
import { GRPC_HEADERS, grpcFrame } from './h2load.js';
import type { SuiteTarget } from './h2load-suite.js';
import { ACQUIRE_PATH, type BenchMesh } from './mesh.js';
import { encodeAcquire, signFreshAssertion } from './requests.js';

export interface TargetsContext {
  bm: BenchMesh;
  /** Where the gateway's HTTPS front listens, when started. */
  httpListen: string | undefined;
  listening: (p: SpawnedService) => Promise<string>;
  procs: SpawnedService[];
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** Starts the anchors and builds every target; the anchors join `ctx.procs`. */
export async function h2loadTargets(ctx: TargetsContext): Promise<SuiteTarget[]> {
  const { bm } = ctx;
  const mesh = bm.mesh;
  const gw = mesh.procs.get('gateway-eastus')!.pid;
  const regional = mesh.procs.get('regional-eastus')!.pid;
  const w = bm.workloads[0]!;
  const scope = `${RESOURCE}/.default`;

  const echo = spawnService('h2load-echo', 'bench/anchors/echo-server.js', ['--mode', 'echo']);
  ctx.procs.push(echo);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = JSON.stringify(publicKey.export({ format: 'jwk' }));
  const anchorAud = 'https://anchor.authmesh.local';
  const anchor = spawnService('verify-sign', 'bench/anchors/verify-sign-server.js', ['--client-jwk', jwk, '--aud', anchorAud]);
  ctx.procs.push(anchor);
  const peer = spawnService('h2load-oidc-peer', 'bench/anchors/oidc-peer.js', ['--client-jwk', jwk]);
  ctx.procs.push(peer);
  const [echoAddr, anchorAddr, peerAddr] = await Promise.all([ctx.listening(echo), ctx.listening(anchor), ctx.listening(peer)]);

  // The anchor's assertion is as long-lived and as reused as the workloads' (an hour, one `jti`).
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'JWT' })).toString('base64url');
  const anchorAssertion = signFreshAssertion({ clientId: 'anchor-client', header, aud: anchorAud, key: privateKey });
  const { secret } = await mesh.adminCall<{ secret: string }>((c) => (m, o, cb) => c.addSecretCredential({ tenantId: w.tenantId, clientId: w.clientId, lifetimeSeconds: 0 }, m, o, cb));
  const withSecret = Buffer.from(AcquireTokenRequest.encode({ tenantId: w.tenantId, clientId: w.clientId, scope, clientAssertion: '', clientAssertionType: '', clientSecret: secret }).finish());

  const targets: SuiteTarget[] = [
    { name: 'echo', description: 'anchor: grpc-js echo, one hop', url: `http://${echoAddr}${ECHO_PATH}`, body: grpcFrame(Buffer.alloc(600, 1)), headers: GRPC_HEADERS, grpc: true, pids: { echo: echo.pid } },
    { name: 'verify-sign', description: 'anchor: one-process grpc-js, ES256 assertion verify + ES256 token sign per call (node:crypto)', url: `http://${anchorAddr}${ANCHOR_PATH}`, body: grpcFrame(encodeAcquire({ tenantId: 't', clientId: 'anchor-client', scope }, anchorAssertion)), headers: GRPC_HEADERS, grpc: true, pids: { anchor: anchor.pid } },
    { name: 'gateway-assertion', description: 'gateway → regional, reused assertion', url: `http://${mesh.address('gateway-eastus')}${ACQUIRE_PATH}`, body: grpcFrame(bm.warmRequests[0]!), headers: GRPC_HEADERS, grpc: true, pids: { gateway: gw, regional } },
    { name: 'gateway-secret', description: 'gateway → regional, client secret', url: `http://${mesh.address('gateway-eastus')}${ACQUIRE_PATH}`, body: grpcFrame(withSecret), headers: GRPC_HEADERS, grpc: true, pids: { gateway: gw, regional } },
    {
      name: 'oidc-client_secret_post', description: 'anchor: node-oidc-provider 9, client_secret_post (HTTP/1.1)', h1: true, grpc: false, headers: FORM, pids: { 'oidc-provider': peer.pid },
      url: `http://${peerAddr}/token`, body: Buffer.from(new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', resource: PEER_RESOURCE, client_id: 'bench-secret', client_secret: PEER_SECRET }).toString()),
    },
  ];
  if (ctx.httpListen !== undefined) {
    targets.push({
      name: 'https-front-secret', description: 'gateway HTTPS front → regional, client_secret_post (HTTP/1.1 + TLS)', h1: true, grpc: false, headers: FORM, pids: { gateway: gw, regional },
      url: `https://${ctx.httpListen}/${w.tenantId}/oauth2/v2.0/token`, body: Buffer.from(new URLSearchParams({ grant_type: 'client_credentials', scope, client_id: w.clientId, client_secret: secret }).toString()),
    });
  }
  return targets;
}
