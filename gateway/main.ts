/** Entry point of the gateway process: reads the config, starts the gateway and stops it on a signal. */
import { describeOptions, ConfigError } from '../lib/config/index.js';
import { onShutdownSignal } from '../lib/grpc/index.js';
import { createLogger } from '../lib/log/index.js';
import { GATEWAY_OPTIONS, parseGatewayConfig, type GatewayConfig } from './config.js';
import { startGateway } from './gateway.js';

/** Composition root: config, logger, gateway, signals. */
async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    console.log(`authmesh gateway\n\n${describeOptions(GATEWAY_OPTIONS)}`);
    return;
  }
  let config: GatewayConfig;
  try {
    config = parseGatewayConfig(argv, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`gateway: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  const log = createLogger(`gateway-${config.region}`, config.logLevel);
  const gateway = await startGateway(config, { log });
  log.info(
    { listening: gateway.address, region: config.region, domains: config.domains.map((d) => `${d.name}=${d.address}`) },
    'gateway serving',
  );
  if (gateway.http !== undefined) {
    log.info({ oauth: gateway.http.url, ...(gateway.http.caPath === undefined ? {} : { trust: gateway.http.caPath }) }, 'OAuth 2.0 / OpenID Connect endpoints serving');
  }
  onShutdownSignal(() => gateway.shutdown(), (msg) => log.info(msg));
}

main().catch((error: unknown) => {
  // A setting found wrong only at start (an unreadable file) is said as plainly as a bad flag.
  if (error instanceof ConfigError) {
    console.error(`gateway: ${error.message}`);
    process.exit(2);
  }
  console.error('gateway: failed to start:', error);
  process.exit(1);
});
