import type { status} from '@grpc/grpc-js';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { HealthClient, type HealthCheckResponse } from './health-client.js';
import { TokenServiceClient, type AcquireTokenRequest, type AcquireTokenResponse } from '../../../gen/authmesh/token/v1/token.js';
import { spawnService, sleep, type SpawnedService } from '../../support/spawn-service.js';

/** A regional process started by a test, with a TokenService client on its address. */
export interface RegionalProcess {
  proc: SpawnedService;
  address: string;
  acquire(request: Partial<AcquireTokenRequest>, timeoutMs?: number): Promise<TokenAnswer>;
  jwks(): Promise<string>;
  health(): Promise<string>;
  stop(): Promise<void>;
}

/** A token call's outcome: the response, or the status code with the reason trailers. */
export type TokenAnswer =
  | { ok: true; response: AcquireTokenResponse; dataAgeMs: number }
  | { ok: false; code: status; details: string; oauthError?: string; reason?: string };

const REQUEST_DEFAULTS: AcquireTokenRequest = {
  tenantId: '', clientId: '', scope: '', clientAssertion: '', clientAssertionType: '', clientSecret: '',
};

export { freePort } from '../../support/free-port.js';

/** Waits for the JSON log line with `"listening"` and returns its address. */
export async function listeningAddress(proc: SpawnedService, timeoutMs = 15_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    for (const line of proc.output) {
      const m = /"listening":"([^"]+)"/.exec(line);
      if (m !== null) return m[1]!;
    }
    if (proc.child.exitCode !== null) break;
    await sleep(25);
  }
  throw new Error(`${proc.name} did not log its address:\n${proc.output.join('\n')}`);
}

/** Starts `services/regional/main.js` with `--listen 127.0.0.1:0` plus `args`. */
export async function startRegional(name: string, args: string[]): Promise<RegionalProcess> {
  const proc = spawnService(name, 'services/regional/main.js', ['--listen', '127.0.0.1:0', ...args]);
  const address = await listeningAddress(proc);
  const client = new TokenServiceClient(address, credentials.createInsecure());
  const health = new HealthClient(address, credentials.createInsecure());
  return {
    proc,
    address,
    acquire: (request, timeoutMs = 3000) =>
      new Promise<TokenAnswer>((resolve) => {
        let trailers = new Metadata();
        const call = client.acquireToken({ ...REQUEST_DEFAULTS, ...request }, new Metadata(), { deadline: Date.now() + timeoutMs }, (err: ServiceError | null, response) => {
          if (err !== null) {
            const oauthError = err.metadata?.get('oauth-error')[0];
            const reason = err.metadata?.get('authmesh-reason')[0];
            resolve({
              ok: false, code: err.code, details: err.details,
              ...(oauthError === undefined ? {} : { oauthError: String(oauthError) }),
              ...(reason === undefined ? {} : { reason: String(reason) }),
            });
          } else {
            setImmediate(() => resolve({ ok: true, response, dataAgeMs: Number(trailers.get('authmesh-data-age-ms')[0] ?? -1) }));
          }
        });
        call.on('status', (s) => {
          trailers = s.metadata;
        });
      }),
    jwks: () =>
      new Promise<string>((resolve, reject) =>
        client.getJwks({ tenantId: 't1' }, (err, res) => (err !== null ? reject(err) : resolve(res.jwksJson))),
      ),
    health: () =>
      new Promise<string>((resolve) =>
        health.check({ service: '' }, { deadline: Date.now() + 1000 }, (err: Error | null, res?: HealthCheckResponse) => resolve(err !== null ? 'NO_ANSWER' : String(res?.status))),
      ),
    async stop() {
      client.close();
      health.close();
      await proc.stop();
    },
  };
}

/** Polls `probe` until it returns true or `timeoutMs` passes; returns the ms it took. */
export async function eventually(probe: () => Promise<boolean> | boolean, timeoutMs = 5000, stepMs = 10): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await probe()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
}
