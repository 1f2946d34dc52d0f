import { existsSync, renameSync, statSync } from 'node:fs';
import type { Clock } from '../clock/index.js';
import type { Logger } from '../log/index.js';
import { TokenSigner } from './token-signer.js';

/** Where a rotation keeps the new key of `file` until it is published: `signing-key.next.pem`. */
export const nextKeyFile = (file: string): string => `${file.replace(/\.pem$/, '')}.next.pem`;

/**
 * A fault domain's signing key, replaced by a new one once it is `rotateAfterMs` old.
 *
 * A rotation makes the new key and saves it beside the key file (`signing-key.next.pem`, so a
 * restart resumes with the same key), has its public half published (`register`: global's
 * directory, the one source of every JWK Set), and only then moves it into place and signs with
 * it. Until then the old key keeps signing, so a domain that cannot publish never signs with a key
 * no one can verify. Global retires the old key when the new one registers and keeps it in the JWK
 * Set until the tokens it signed have expired.
 */
export class RotatingSigningKey {
  private signer: TokenSigner;
  private createdAt: number;
  private rotating = false;

  private constructor(
    signer: TokenSigner,
    createdAtMs: number,
    private readonly file: string,
    /** Age at which the key is replaced, in ms; 0 never. */
    readonly rotateAfterMs: number,
    private readonly clock: Clock,
  ) {
    this.signer = signer;
    this.createdAt = createdAtMs;
  }

  /** Loads (or makes, on first start) the key in `file`; its age is the file's. `rotateAfterMs` 0 never rotates. */
  static async load(file: string, domain: string, rotateAfterMs: number, clock: Clock): Promise<RotatingSigningKey> {
    const signer = await TokenSigner.loadOrCreate(file, domain);
    return new RotatingSigningKey(signer, Math.floor(statSync(file).mtimeMs), file, rotateAfterMs, clock);
  }

  /** The key tokens are signed with now. */
  get current(): TokenSigner {
    return this.signer;
  }

  /** When the key in use was made, in ms since the epoch. */
  get createdAtMs(): number {
    return this.createdAt;
  }

  /** A rotation was under way when the process stopped: its new key waits on disk. */
  interrupted(): boolean {
    return !this.rotating && existsSync(nextKeyFile(this.file));
  }

  /** A rotation is due: the key in use is old enough, or one was {@link interrupted}. */
  due(): boolean {
    return this.interrupted() || (!this.rotating && this.rotateAfterMs > 0 && this.clock.now() - this.createdAt >= this.rotateAfterMs);
  }

  /**
   * Replaces the key: `register` must resolve true once the new key's public half is published
   * (false when it gave up, e.g. on shutdown). Resolves with the new signer, or undefined when
   * the key in use stays. One rotation at a time.
   */
  async rotate(register: (next: TokenSigner) => Promise<boolean>): Promise<TokenSigner | undefined> {
    if (this.rotating) return undefined;
    this.rotating = true;
    try {
      const nextFile = nextKeyFile(this.file);
      const next = await TokenSigner.loadOrCreate(nextFile, this.signer.domain);
      if (!(await register(next))) return undefined;
      renameSync(nextFile, this.file);
      this.signer = next;
      this.createdAt = this.clock.now();
      return next;
    } finally {
      this.rotating = false;
    }
  }
}

/**
 * Time between a new key's registration and its first token. The other domains learn the new key
 * from global's change feed within milliseconds, and a verifier that meets an unknown `kid`
 * fetches the JWK Set again at most once per interval: signing with the key only once every JWK
 * Set has it keeps that one fetch from coming too early.
 */
export const PUBLISH_GRACE_MS = 5000;

/**
 * Checks every so often (a quarter of the rotation age, at most hourly) whether the key is due
 * and rotates it, logging the outcome; the first check runs at once.
 *
 * A rotation interrupted by a stop is finished at once and without the grace: its new key may have
 * been published long ago, and publishing it retired the key in use, which drops out of the JWK
 * Set once the tokens it signed could have expired. Signing on with it would make tokens no one
 * can verify.
 */
export function startKeyRotation(
  keys: RotatingSigningKey,
  register: (next: TokenSigner) => Promise<boolean>,
  log: Logger,
  graceMs = PUBLISH_GRACE_MS,
): { stop(): void } {
  let stopped = false;
  let resuming = keys.interrupted();
  const publish = async (next: TokenSigner): Promise<boolean> => {
    if (!(await register(next))) return false;
    if (resuming) resuming = false;
    else await new Promise((r) => setTimeout(r, graceMs).unref());
    return !stopped;
  };
  const check = async (): Promise<void> => {
    if (!keys.due()) return;
    const old = keys.current.kid;
    log.info({ event: 'signing-key-rotation', kid: old }, 'signing key due for rotation; publishing a new one');
    const next = await keys.rotate(publish);
    if (next !== undefined) log.info({ event: 'signing-key-rotated', oldKid: old, kid: next.kid }, 'signing key rotated: new tokens are signed with the new key');
  };
  const run = (): void => {
    check().catch((err: unknown) => log.error({ err }, 'signing key rotation failed; the key in use stays'));
  };
  run();
  const every = keys.rotateAfterMs > 0 ? Math.min(3_600_000, Math.max(1000, Math.floor(keys.rotateAfterMs / 4))) : 3_600_000;
  const timer = setInterval(run, every);
  timer.unref();
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
