import { existsSync, renameSync, statSync } from 'node:fs';
import path from 'node:path';
import type { SigningKey } from '../../gen/authmesh/directory/v1/directory.js';
import type { Clock } from '../../lib/clock/index.js';
import { TokenSigner } from '../../lib/token/index.js';
import { backoffDelay, realSleep, type BackoffPolicy, type Sleep } from './backoff.js';
import { describeFailure, type DirectorySource } from './directory-client.js';

/** File name of the region's private signing key inside its data dir. */
export const SIGNING_KEY_FILE = 'signing-key.pem';

/** A key made for a rotation and not signing yet: kept until global has published it. */
export const NEXT_SIGNING_KEY_FILE = 'signing-key.next.pem';

/** Loads the region's own ES256 key, generating it on first start. The private key never leaves this process. */
export function loadRegionSigner(dataDir: string, region: string): Promise<TokenSigner> {
  return TokenSigner.loadOrCreate(path.join(dataDir, SIGNING_KEY_FILE), `regional/${region}`);
}

/**
 * The region's signing key, replaced by a new one once it is `rotateAfterMs` old.
 *
 * A rotation makes the new key and saves it as signing-key.next.pem (so a restart resumes with
 * the same key), registers its public half with global until global answers, and only then moves
 * it into place and signs with it. Until then the old key keeps signing, so a region cut off from
 * global never signs with a key no one can verify. Global retires the old key when the new one
 * registers and keeps it in the JWK Set until the tokens it signed have expired.
 */
export class RegionSigningKeys {
  private signer: TokenSigner;
  private createdAt: number;
  private rotating = false;

  private constructor(
    signer: TokenSigner,
    createdAtMs: number,
    private readonly dataDir: string,
    private readonly rotateAfterMs: number,
    private readonly clock: Clock,
  ) {
    this.signer = signer;
    this.createdAt = createdAtMs;
  }

  /** Loads (or makes, on first start) the key in `dataDir`; its age is the key file's. `rotateAfterMs` 0 never rotates. */
  static async load(dataDir: string, region: string, rotateAfterMs: number, clock: Clock): Promise<RegionSigningKeys> {
    const signer = await loadRegionSigner(dataDir, region);
    const createdAtMs = Math.floor(statSync(path.join(dataDir, SIGNING_KEY_FILE)).mtimeMs);
    return new RegionSigningKeys(signer, createdAtMs, dataDir, rotateAfterMs, clock);
  }

  /** The key tokens are signed with now. */
  get current(): TokenSigner {
    return this.signer;
  }

  /** When the key in use was made, in ms since the epoch. */
  get createdAtMs(): number {
    return this.createdAt;
  }

  /** A rotation is due: the key in use is old enough, or a rotation was under way when the process stopped. */
  due(): boolean {
    if (this.rotating) return false;
    if (existsSync(path.join(this.dataDir, NEXT_SIGNING_KEY_FILE))) return true;
    return this.rotateAfterMs > 0 && this.clock.now() - this.createdAt >= this.rotateAfterMs;
  }

  /**
   * Replaces the key: `register` must resolve true once global has the new key's public half
   * (false when it gave up, e.g. on shutdown). Resolves with the new signer, or undefined when
   * the key in use stays. One rotation at a time.
   */
  async rotate(register: (next: TokenSigner) => Promise<boolean>): Promise<TokenSigner | undefined> {
    if (this.rotating) return undefined;
    this.rotating = true;
    try {
      const nextFile = path.join(this.dataDir, NEXT_SIGNING_KEY_FILE);
      const next = await TokenSigner.loadOrCreate(nextFile, this.signer.domain);
      if (!(await register(next))) return undefined;
      renameSync(nextFile, path.join(this.dataDir, SIGNING_KEY_FILE));
      this.signer = next;
      this.createdAt = this.clock.now();
      return next;
    } finally {
      this.rotating = false;
    }
  }
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
