import path from 'node:path';
import type { SigningKey } from '../../gen/authmesh/directory/v1/directory.js';
import type { Clock } from '../../lib/clock/index.js';
import { RotatingSigningKey, type TokenSigner } from '../../lib/token/index.js';
import { backoffDelay, realSleep, type BackoffPolicy, type Sleep } from './backoff.js';
import { describeFailure, type DirectorySource } from './directory-client.js';

/** File name of the region's private signing key inside its data dir. */
export const SIGNING_KEY_FILE = 'signing-key.pem';

/**
 * Loads the region's own ES256 key, generating it on first start, with its rotation (see
 * {@link RotatingSigningKey}). The private key never leaves this process.
 */
export function loadRegionKeys(dataDir: string, region: string, rotateAfterMs: number, clock: Clock): Promise<RotatingSigningKey> {
  return RotatingSigningKey.load(path.join(dataDir, SIGNING_KEY_FILE), `regional/${region}`, rotateAfterMs, clock);
}

/** The region's own key as a directory SigningKey, so it is published even before global lists it. */
export function ownSigningKey(signer: TokenSigner, createdAtMs: number): SigningKey {
  return { kid: signer.kid, domain: signer.domain, publicJwkJson: JSON.stringify(signer.publicJwk), createdAtMs, retiredAtMs: 0 };
}

/** The keys to publish: the directory's, plus this region's own when the directory does not list it yet. */
export function publishedKeys(directoryKeys: readonly SigningKey[], own: SigningKey): SigningKey[] {
  return directoryKeys.some((k) => k.kid === own.kid) ? [...directoryKeys] : [...directoryKeys, own];
}

export type RegistrationEvent =
  | { type: 'registered'; kid: string; attempts: number }
  | { type: 'already-registered'; kid: string }
  | { type: 'registration-failed'; attempt: number; retryInMs: number; error: { code?: string; message: string } };

export interface RegisterOptions {
  source: Pick<DirectorySource, 'registerSigningKey'>;
  signer: TokenSigner;
  /** True when global already lists this key (it arrived in the directory data). */
  isKnown: () => boolean;
  signal: AbortSignal;
  backoff?: BackoffPolicy;
  random?: () => number;
  sleep?: Sleep;
  onEvent?: (event: RegistrationEvent) => void;
}

/**
 * Registers the public key with global, retrying with backoff until it succeeds or `signal`
 * aborts. Skipped when global already lists the key. Runs in the background: serving does not
 * wait for it, since tokens signed before it lands still verify once it does.
 */
export async function registerUntilDone(options: RegisterOptions): Promise<boolean> {
  const { signer, signal } = options;
  const sleep = options.sleep ?? realSleep;
  const backoff = options.backoff ?? { baseMs: 500, capMs: 30_000 };
  for (let attempt = 0; !signal.aborted; attempt += 1) {
    if (options.isKnown()) {
      options.onEvent?.({ type: 'already-registered', kid: signer.kid });
      return true;
    }
    try {
      const answer = await options.source.registerSigningKey(
        { domain: signer.domain, publicJwkJson: JSON.stringify(signer.publicJwk) },
        { deadline: Date.now() + 5000, signal },
      );
      options.onEvent?.({ type: 'registered', kid: answer.kid || signer.kid, attempts: attempt + 1 });
      return true;
    } catch (err) {
      if (signal.aborted) break;
      const retryInMs = backoffDelay(attempt, backoff, options.random);
      options.onEvent?.({ type: 'registration-failed', attempt: attempt + 1, retryInMs, error: describeFailure(err) });
      await sleep(retryInMs, signal);
    }
  }
  return false;
}
