/**
 * Composition root of a regional instance: reads config, wires the cache, the sync with global
 * and the TokenService, and nothing else.
 *
 * Readiness: health is NOT_SERVING until the first snapshot from global has loaded, so a region
 * that starts while global is down is skipped by the gateway rather than answering every request
 * with a miss. Once loaded it stays SERVING through any later outage of global: cached identities
 * keep getting tokens, and only uncached ones fail with `cache-miss-unfillable`.
 */
import path from 'node:path';
import { systemClock } from '../../lib/clock/index.js';
import { ConfigError, describeOptions } from '../../lib/config/index.js';
import { FaultInjector, withFaultInjection } from '../../lib/fault/index.js';
import { connectionAgeOf, loadMeshTls, meshChannelCredentials, meshServerCredentials, onShutdownSignal, serve, tokenFileReader, withRelay } from '../../lib/grpc/index.js';
import { createLogger } from '../../lib/log/index.js';
import { assertionPolicyFromConfig } from '../../lib/token/index.js';
import { startKeyRotation, type TokenSigner } from '../../lib/token/index.js';
import { meshTlsFiles } from '../../lib/tls/index.js';
import { parseRegionalConfig, REGIONAL_OPTIONS, type RegionalConfig } from './config.js';
import { DirectoryCache } from './directory-cache.js';
import { grpcDirectorySource } from './directory-client-grpc.js';
import { Refresher } from './refresh.js';
import { RegionalDirectory } from './regional-directory.js';
import { regionalTelemetry } from './regional-telemetry.js';
import { regionalTokenService } from './server.js';
import { loadRegionKeys, registerUntilDone } from './signing-key.js';
import { UsageReporter } from './usage-reporter.js';
import { WatchSync } from './watch-sync.js';
import { certificateExpiryTelemetry, signingKeyExpiryTelemetry } from '../../lib/telemetry/expiry-metrics.js';

function readConfig(): RegionalConfig {
  if (process.argv.includes('--help')) {
    process.stdout.write(`usage: regional --region <name> [options]\n${describeOptions(REGIONAL_OPTIONS)}\n`);
    process.exit(0);
  }
  try {
    return parseRegionalConfig(process.argv.slice(2), process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`authmesh regional: ${err.message}\n\noptions:\n${describeOptions(REGIONAL_OPTIONS)}\n`);
    process.exit(2);
  }
}

/** The mesh credential: the flag's value, or the file re-read every few seconds (global writes it). */
function meshTokenReader(config: RegionalConfig): () => string | undefined {
  if (config['mesh-token'] !== '') return () => config['mesh-token'];
  return tokenFileReader(config['mesh-token-file'] || path.join('.mesh', 'global', 'members', `regional-${config.region}`));
}

async function main(): Promise<void> {
  const config = readConfig();
  const region = config.region;
  const log = createLogger(`regional-${region}`, config['log-level']);
  const clock = systemClock;
  const keys = await loadRegionKeys(config.dataDir, region, config['signing-key-rotate-after'], clock);
  signingKeyExpiryTelemetry(`regional/${region}`, () => keys);
  const tlsFiles = meshTlsFiles(config);
  certificateExpiryTelemetry(tlsFiles === undefined ? [] : [{ name: 'mesh', file: tlsFiles.cert }]);
  const tls = tlsFiles === undefined ? undefined : loadMeshTls(tlsFiles);
  const source = grpcDirectorySource({
    address: config.global, meshToken: meshTokenReader(config), watchIdleTimeoutMs: config['watch-idle-timeout'], channelCredentials: meshChannelCredentials(tls, 'global'),
  });
  const cache = new DirectoryCache({ capacity: config['cache-capacity'], clock, negativeTtlMs: config['negative-ttl'], negativeCapacity: config['negative-cache-capacity'] });
  const telemetry = regionalTelemetry(cache, region);
  const directory = new RegionalDirectory({
    cache, source, region, clock, fillTimeoutMs: config['fill-timeout'],
    onEvent: (e) => {
      telemetry.onLookup(e);
      if (e.type === 'fill') log.debug({ event: 'cache-fill', ok: e.ok, ms: e.ms }, e.ok ? 'filled a cache miss from global' : 'cache miss could not be filled');
    },
  });
  const usage = new UsageReporter({
    source, region, clock,
    onEvent: (e) => (e.error === undefined ? log.debug({ event: 'usage-reported', ...e }, 'usage reported') : log.warn({ event: 'usage-report-failed', ...e }, 'usage report failed; kept for the next one')),
  });
  const refresher = new Refresher({
    cache, source, region, ttlMs: config['refresh-ttl'],
    onEvent: (e) => (e.globalUnreachable ? log.warn({ event: 'refresh-paused', ...e }, 'global unreachable; cached entries keep serving') : e.due > 0 && log.info({ event: 'refreshed', ...e }, 'revalidated cached entries')),
  });
  const bindings = withFaultInjection(config['fault-injection'] ? new FaultInjector() : undefined, [
    regionalTokenService({
      directory, cache, keys, usage, clock,
      issuer: config.issuer,
      lifetimeSeconds: Math.floor(config['token-lifetime'] / 1000),
      assertions: assertionPolicyFromConfig(config),
      onServerError: (err, method) => log.error({ err, method }, 'request failed inside the service'),
    }),
  ]);
  const running = await serve({
    listen: config.listen,
    connectionAge: connectionAgeOf(config),
    credentials: meshServerCredentials(tls),
    initialStatus: 'NOT_SERVING',
    services: withRelay(bindings, bindings[0]!.name),
  });
  if (config['fault-injection']) log.warn({ faultInjection: true }, 'FAULT INJECTION ENABLED: FaultInjectionService can slow or fail every call; never run this in production');
  log.info({ listening: running.address, region, global: config.global, kid: keys.current.kid, faultDomain: keys.current.domain }, 'regional serving TokenService');

  const stopping = new AbortController();
  /** Publishes a key's public half with global, retrying until global answers or shutdown. */
  const register = (signer: TokenSigner): Promise<boolean> =>
    registerUntilDone({
      source, signer, signal: stopping.signal,
      isKnown: () => cache.signingKeys().some((k) => k.kid === signer.kid),
      onEvent: (r) => (r.type === 'registration-failed' ? log.warn({ event: r.type, ...r }, 'signing key registration failed; retrying') : log.info({ event: r.type, kid: r.kid }, 'signing key registered with global')),
    });
  let registration: Promise<boolean> | undefined;
  let rotation: { stop(): void } | undefined;
  const sync = new WatchSync({
    source, cache, region,
    onEvent: (e) => {
      switch (e.type) {
        case 'snapshot-loaded':
          log.info({ event: e.type, reason: e.reason, ...e.result }, 'directory snapshot loaded');
          running.setServing('SERVING');
          registration ??= register(keys.current).then((done) => {
            if (done && !stopping.signal.aborted) rotation ??= startKeyRotation(keys, register, log);
            return done;
          });
          break;
        case 'snapshot-failed':
          log.warn({ event: e.type, ...e.error, retryInMs: e.retryInMs }, cache.loaded ? 'snapshot reload failed' : 'global unreachable; NOT_SERVING until the first snapshot loads');
          break;
        case 'watch-ended':
          log.warn({ event: e.type, ...e.error, retryInMs: e.retryInMs, appliedRevision: e.appliedRevision, headRevision: cache.headRevision, lag: cache.lag }, 'change feed disconnected; resuming from the last applied revision');
          break;
        case 'log-compacted':
          log.warn({ event: e.type, fromRevision: e.fromRevision }, 'change log compacted past our revision; reloading a snapshot');
          break;
        case 'caught-up':
          log.info({ event: e.type, revision: e.revision, reconnects: sync.status().reconnects }, 'change feed caught up');
          break;
        case 'change-applied':
          log.debug({ event: e.type, revision: e.revision, headRevision: e.headRevision, outcome: e.outcome }, 'change applied');
          break;
        case 'watch-started':
          log.debug({ event: e.type, fromRevision: e.fromRevision }, 'watching the change feed');
          break;
      }
    },
  });
  void sync.start();
  refresher.start();
  usage.start(config['usage-interval']);

  onShutdownSignal(async () => {
    stopping.abort();
    rotation?.stop();
    await Promise.all([sync.stop(), refresher.stop()]);
    await Promise.race([usage.stop(), new Promise((r) => setTimeout(r, 1000).unref())]);
    await running.shutdown();
    source.close();
  }, (msg) => log.info(msg));
}

main().catch((err: unknown) => {
  process.stderr.write(`authmesh regional: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
