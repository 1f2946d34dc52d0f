/**
 * Composition root of the managed identity agent: a per-host daemon that hands tokens for the
 * host identity to local workloads over a Unix socket (and loopback TCP when asked), holding and
 * rotating the identity's key.
 */
import { GrpcTokenTransport, TokenCache } from '../../client/index.js';
import { systemClock } from '../../lib/clock/index.js';
import { ConfigError, describeOptions } from '../../lib/config/index.js';
import { ServerCredentials } from '@grpc/grpc-js';
import { connectionAgeOf, loadMeshTls, meshChannelCredentials, onShutdownSignal, serve } from '../../lib/grpc/index.js';
import { meshTlsFiles } from '../../lib/tls/index.js';
import { createLogger } from '../../lib/log/index.js';
import { prepareAgentSocket, restrictAgentSocket } from './agent-socket.js';
import { AGENT_OPTIONS, gatewayTlsOf, parseAgentConfig, type AgentConfig } from './config.js';
import { adminRegistrar } from './credential-registrar.js';
import { CredentialRotator } from './credential-rotator.js';
import { HostIdentity } from './host-identity.js';
import { identityAgentService } from './server.js';
import { certificateExpiryTelemetry } from '../../lib/telemetry/expiry-metrics.js';

function readConfig(): AgentConfig {
  if (process.argv.includes('--help')) {
    process.stdout.write(`usage: identity-agent --tenant <id> --client <id> [options]\n${describeOptions(AGENT_OPTIONS)}\n`);
    process.exit(0);
  }
  try {
    return parseAgentConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`authmesh identity-agent: ${err.message}\n\noptions:\n${describeOptions(AGENT_OPTIONS)}\n`);
    process.exit(2);
  }
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

async function main(): Promise<void> {
  const config = readConfig();
  const log = createLogger('identity-agent', config['log-level']);
  const clock = systemClock;
  const gatewayTls = gatewayTlsOf(config);
  const transport = new GrpcTokenTransport({ endpoints: config.gateways, ...(gatewayTls === undefined ? {} : { tls: gatewayTls }) });
  const cache = new TokenCache({
    clock,
    onEvent: (e) => {
      if (e.type === 'fetched') log.info({ event: 'token-fetched', background: e.background, faultDomain: e.faultDomain }, 'token obtained');
      if (e.type === 'fetch-failed') log.warn({ event: 'token-fetch-failed', background: e.background, err: String(e.error) }, 'token request failed; a still-valid token keeps serving');
    },
  });
  const identity = new HostIdentity(config.tenant, config.client, transport, cache, config.issuer);
  const tlsFiles = meshTlsFiles(config);
  certificateExpiryTelemetry(tlsFiles === undefined ? [] : [{ name: 'mesh', file: tlsFiles.cert }]);
  const registrar = adminRegistrar({
    address: config.admin, tokenFile: config['admin-token-file'], tenantId: config.tenant, clientId: config.client,
    channelCredentials: meshChannelCredentials(tlsFiles === undefined ? undefined : loadMeshTls(tlsFiles), 'global'),
  });
  const scopes = new Set<string>();
  const rotator = new CredentialRotator({
    registrar, clock, sleep,
    dataDir: config['data-dir'],
    validityMs: config['credential-validity'],
    rotateBeforeMs: config['rotate-before'],
    propagationDelayMs: config['propagation-delay'],
    // The new key must get a token before it replaces the old one.
    probe: async (held) => {
      const scope = [...scopes][0];
      if (scope === undefined) return;
      const probe = identity.probeCredential(held);
      for (let attempt = 0; ; attempt += 1) {
        try {
          await probe.getToken(scope, { deadline: Date.now() + 3000 });
          return;
        } catch (err) {
          if (attempt >= 10) throw err;
          await sleep(200 * (attempt + 1));
        }
      }
    },
    onSwitch: (held) => identity.use(held),
    onEvent: (e) => {
      if (e.type === 'rotation-failed' || e.type === 'remove-failed') log.warn({ event: e.type, err: String(e.error) }, 'credential rotation step failed; the current credential keeps working');
      else log.info({ event: `credential-${e.type}`, ...e }, `credential ${e.type}`);
    },
  });
  await rotator.init();
  const socket = await prepareAgentSocket(config['socket-dir']);
  const running = await serve({
    listen: `unix:${socket}`,
    connectionAge: connectionAgeOf(config),
    services: [identityAgentService(identity, (s) => scopes.add(s), (err) => log.warn({ event: 'get-token-failed', err: String(err) }, 'no token for a local caller'))],
  });
  restrictAgentSocket(socket);
  let tcp: string | undefined;
  if (config.listen !== '') {
    const at = config.listen.lastIndexOf(':');
    const port = await new Promise<number>((resolve, reject) =>
      running.server.bindAsync(config.listen, ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    tcp = `${config.listen.slice(0, at)}:${port}`;
  }
  log.info({ socket, ...(tcp === undefined ? {} : { listening: tcp }), tenant: config.tenant, client: config.client, keyId: rotator.held?.keyId }, 'identity agent serving IdentityAgentService');
  rotator.start();

  onShutdownSignal(async () => {
    await rotator.stop();
    await running.shutdown();
    registrar.close();
    transport.close();
  }, (msg) => log.info(msg));
}

main().catch((err: unknown) => {
  process.stderr.write(`authmesh identity-agent: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
