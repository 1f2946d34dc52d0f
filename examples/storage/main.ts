/**
 * Sample resource server: a StorageService that lets in callers whose access token, checked by
 * the verifier against the mesh's JWK Set, carries the `Blob.Read` role.
 */
import { ConfigError, describeOptions } from '../../lib/config/index.js';
import { onShutdownSignal, serve } from '../../lib/grpc/index.js';
import { createLogger } from '../../lib/log/index.js';
import { gatewayJwksSource, KeySetCache, TokenVerifier } from '../../verifier/index.js';
import { parseStorageConfig, STORAGE_OPTIONS, type StorageConfig } from './config.js';
import { storageService } from './server.js';

function readConfig(): StorageConfig {
  if (process.argv.includes('--help')) {
    process.stdout.write(`usage: storage --tenant <id> [options]\n${describeOptions(STORAGE_OPTIONS)}\n`);
    process.exit(0);
  }
  try {
    return parseStorageConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`authmesh storage: ${err.message}\n\noptions:\n${describeOptions(STORAGE_OPTIONS)}\n`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  const log = createLogger('storage', config['log-level']);
  const tls = config['gateway-ca'] === '' ? undefined : { caFile: config['gateway-ca'], ...(config['gateway-server-name'] === '' ? {} : { serverName: config['gateway-server-name'] }) };
  const source = gatewayJwksSource({ endpoints: config.gateways, tenantId: config.tenant, ...(tls === undefined ? {} : { tls }) });
  const keys = new KeySetCache({
    source,
    refetchIntervalMs: config['jwks-refetch-interval'],
    onEvent: (e) => (e.type === 'fetched' ? log.info({ event: 'jwks-fetched', reason: e.reason, keys: e.keys }, 'key set fetched') : log.warn({ event: 'jwks-fetch-failed', reason: e.reason, err: String(e.error) }, 'key set fetch failed; the cached set keeps verifying')),
  });
  const verifier = new TokenVerifier({ keys, tenantId: config.tenant, audience: config.resource, issuer: config.issuer, clockToleranceSeconds: Math.floor(config['clock-tolerance'] / 1000) });
  const running = await serve({
    listen: config.listen,
    services: [storageService({ verifier, role: config.role, onRefused: (code, message) => log.info({ event: 'refused', code }, message) })],
  });
  log.info({ listening: running.address, resource: config.resource, role: config.role, gateways: config.gateways }, 'storage serving StorageService');
  onShutdownSignal(async () => {
    await running.shutdown();
    source.close();
  }, (msg) => log.info(msg));
}

main().catch((err: unknown) => {
  process.stderr.write(`authmesh storage: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
