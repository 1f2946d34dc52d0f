import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../../lib/clock/index.js';
import { writePrivateFile } from '../../lib/token/index.js';
import type { CredentialRegistrar } from './credential-registrar.js';

/** The credential the agent signs assertions with. */
export interface HeldCredential {
  key: KeyObject;
  keyId: string;
  /** Ms since the epoch. */
  notAfterMs: number;
}

export type RotatorEvent =
  | { type: 'registered'; keyId: string; notAfterMs: number }
  | { type: 'switched'; keyId: string; previousKeyId?: string }
  | { type: 'removed'; keyId: string }
  | { type: 'remove-failed'; keyId: string; error: unknown }
  | { type: 'rotation-failed'; error: unknown; retryInMs: number };

export interface RotatorOptions {
  registrar: CredentialRegistrar;
  clock: Clock;
  /** Folder keeping the current key (0600) and its registration, so a restart reuses it. */
  dataDir: string;
  validityMs: number;
  rotateBeforeMs: number;
  /** Wait between registering a credential and using it. */
  propagationDelayMs: number;
  /** Called with a newly registered credential before the switch; throws if it does not work yet. */
  probe?: (held: HeldCredential) => Promise<void>;
  /** Called after the switch: the agent starts using the credential. */
  onSwitch: (held: HeldCredential) => void;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  onEvent?: (event: RotatorEvent) => void;
}

const KEY_FILE = 'identity-key.pem';
const STATE_FILE = 'identity-state.json';

/**
 * Keeps the host identity's certificate credential valid: generates the key pair locally,
 * registers its public key, and before it expires registers a new one, uses it, and only then
 * removes the old one, so no request goes out with a credential that is gone.
 */
export class CredentialRotator {
  private current: HeldCredential | undefined;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: RotatorOptions) {}

  get held(): HeldCredential | undefined {
    return this.current;
  }

  /** Loads the stored credential if it has time left, or registers a first one. */
  async init(): Promise<HeldCredential> {
    const stored = this.load();
    if (stored !== undefined && stored.notAfterMs - this.opts.clock.now() > this.opts.rotateBeforeMs) {
      this.current = stored;
      this.opts.onSwitch(stored);
      return stored;
    }
    await this.rotate(stored?.keyId);
    return this.current!;
  }

  /** Registers a new credential, waits, probes, switches to it, then removes `previous`. */
  async rotate(previousKeyId = this.current?.keyId): Promise<void> {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const notAfterMs = this.opts.clock.now() + this.opts.validityMs;
    const keyId = await this.opts.registrar.add(publicKey.export({ format: 'pem', type: 'spki' }).toString(), Math.floor(notAfterMs / 1000));
    this.opts.onEvent?.({ type: 'registered', keyId, notAfterMs });
    const next: HeldCredential = { key: privateKey, keyId, notAfterMs };
    if (this.opts.propagationDelayMs > 0) await this.opts.sleep(this.opts.propagationDelayMs, this.stopping.signal);
    await this.opts.probe?.(next);
    this.store(next);
    this.current = next;
    this.opts.onSwitch(next);
    this.opts.onEvent?.({ type: 'switched', keyId, ...(previousKeyId === undefined ? {} : { previousKeyId }) });
    if (previousKeyId !== undefined && previousKeyId !== keyId) {
      try {
        await this.opts.registrar.remove(previousKeyId);
        this.opts.onEvent?.({ type: 'removed', keyId: previousKeyId });
      } catch (error) {
        // It expires on its own at its not_after; nothing uses it any more.
        this.opts.onEvent?.({ type: 'remove-failed', keyId: previousKeyId, error });
      }
    }
  }

  /** Rotates whenever the current credential is within rotateBefore of expiry, until stopped. */
  start(): void {
    this.loop ??= (async () => {
      let failures = 0;
      while (!this.stopping.signal.aborted) {
        const dueIn = (this.current?.notAfterMs ?? 0) - this.opts.rotateBeforeMs - this.opts.clock.now();
        if (dueIn > 0) await this.opts.sleep(dueIn, this.stopping.signal);
        if (this.stopping.signal.aborted) break;
        try {
          await this.rotate();
          failures = 0;
        } catch (error) {
          failures += 1;
          const retryInMs = Math.min(30_000, 250 * 2 ** Math.min(failures, 10));
          this.opts.onEvent?.({ type: 'rotation-failed', error, retryInMs });
          await this.opts.sleep(retryInMs, this.stopping.signal);
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private load(): HeldCredential | undefined {
    const keyFile = path.join(this.opts.dataDir, KEY_FILE);
    const stateFile = path.join(this.opts.dataDir, STATE_FILE);
    if (!existsSync(keyFile) || !existsSync(stateFile)) return undefined;
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { keyId: string; notAfterMs: number };
    return { key: createPrivateKey(readFileSync(keyFile, 'utf8')), keyId: state.keyId, notAfterMs: state.notAfterMs };
  }

  private store(held: HeldCredential): void {
    writePrivateFile(path.join(this.opts.dataDir, KEY_FILE), held.key.export({ format: 'pem', type: 'pkcs8' }).toString());
    writePrivateFile(path.join(this.opts.dataDir, STATE_FILE), `${JSON.stringify({ keyId: held.keyId, notAfterMs: held.notAfterMs, publicKey: createPublicKey(held.key).export({ format: 'pem', type: 'spki' }) })}\n`);
  }
}
