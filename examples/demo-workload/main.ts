/**
 * Demo workload: every second it gets a token through the client SDK (from its cache, or from the
 * gateways when due) and reads a blob from the sample storage service with it, logging which
 * fault domain issued the token it holds, so a failover is visible live when a domain is killed.
 */
import { readFileSync } from 'node:fs';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { CertificateCredential, grpcCallCredentials, TokenCache, type AccessToken } from '../../client/index.js';
import { StorageServiceClient, type ReadBlobResponse } from '../../gen/authmesh/storage/v1/storage.js';
import { ConfigError, describeOptions, hostPort, oneOf, parseConfig, positive } from '../../lib/config/index.js';
import { createLogger } from '../../lib/log/index.js';
import { DEFAULT_ISSUER } from '../../lib/token/index.js';

const OPTIONS = {
  seed: { type: 'string', describe: 'JSON file with tenantId, clientId, resource and keyFile (written by make run-mesh)', default: '.mesh/demo/seed.json' },
  gateways: { type: 'list', describe: 'gateway endpoints, home region first', default: '127.0.0.1:50050,127.0.0.1:50150' },
  'gateway-ca': { type: 'string', describe: 'PEM file of the CA of the gateways\' TLS certificates; empty = plaintext (local mesh only)', default: '' },
  storage: { type: 'string', describe: 'host:port of the storage service', default: '127.0.0.1:50091', check: hostPort },
  interval: { type: 'duration', describe: 'time between calls', default: '1s', check: positive },
  issuer: { type: 'string', describe: 'issuer base of the mesh (the audience of client assertions)', default: DEFAULT_ISSUER },
  'log-level': { type: 'string', describe: 'log level', default: 'info', check: oneOf('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent') },
} as const;

interface Seed {
  tenantId: string;
  clientId: string;
  resource: string;
  keyFile: string;
}

function readConfig() {
  if (process.argv.includes('--help')) {
    process.stdout.write(`usage: demo-workload [options]\n${describeOptions(OPTIONS)}\n`);
    process.exit(0);
  }
  try {
    return parseConfig(OPTIONS, process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`authmesh demo-workload: ${err.message}\n`);
    process.exit(2);
  }
}

function main(): void {
  const config = readConfig();
  const log = createLogger('demo-workload', config['log-level']);
  const seed = JSON.parse(readFileSync(config.seed, 'utf8')) as Seed;
  const scope = `${seed.resource}/.default`;
  const cache = new TokenCache({
    onEvent: (e) => {
      if (e.type === 'fetched') log.info({ event: 'token-fetched', background: e.background, faultDomain: e.faultDomain, expiresOn: new Date(e.expiresOn).toISOString() }, `new token from ${e.faultDomain}`);
      if (e.type === 'fetch-failed') log.warn({ event: 'token-fetch-failed', background: e.background, err: String(e.error), retryAt: new Date(e.retryAt).toISOString() }, e.background ? 'refresh failed; the held token keeps serving' : 'no token');
    },
  });
  const credential = new CertificateCredential(seed.tenantId, seed.clientId, readFileSync(seed.keyFile, 'utf8'), {
    endpoints: config.gateways, cache, issuer: config.issuer,
    ...(config['gateway-ca'] === '' ? {} : { tls: { caFile: config['gateway-ca'] } }),
  });
  const storage = new StorageServiceClient(config.storage, credentials.createInsecure(), { 'grpc.max_reconnect_backoff_ms': 2000 });
  // Every call carries `authorization: Bearer <token>` from the credential's cache.
  const callCredentials = grpcCallCredentials(credential, scope);
  let current: AccessToken | undefined;

  const tick = async (): Promise<void> => {
    let token: AccessToken;
    try {
      token = await credential.getToken(scope, { deadline: Date.now() + 3000 });
    } catch (err) {
      log.error({ event: 'no-token', code: (err as { code?: string }).code }, (err as Error).message);
      return;
    }
    if (current?.token !== token.token) log.info({ event: 'holding-token', faultDomain: token.faultDomain, expiresInS: Math.round((token.expiresOn - Date.now()) / 1000) }, `holding a token issued by ${token.faultDomain}`);
    current = token;
    await new Promise<void>((resolve) => {
      storage.readBlob({ name: 'hello.txt' }, new Metadata(), { deadline: Date.now() + 3000, credentials: callCredentials }, (err: ServiceError | null, res: ReadBlobResponse) => {
        if (err) log.warn({ event: 'read-failed', code: err.code }, `storage refused: ${err.details}`);
        else log.info({ event: 'read', blob: res.name, bytes: res.content.length, tokenFaultDomain: res.tokenFaultDomain }, `read ${res.name} with a token from ${res.tokenFaultDomain}`);
        resolve();
      });
    });
  };

  let stopped = false;
  const loop = async (): Promise<void> => {
    while (!stopped) {
      await tick();
      await new Promise((r) => setTimeout(r, config.interval));
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      stopped = true;
      credential.close();
      storage.close();
      process.exit(0);
    });
  }
  log.info({ tenant: seed.tenantId, client: seed.clientId, gateways: config.gateways, storage: config.storage }, 'demo workload calling storage every interval');
  void loop();
}

main();
