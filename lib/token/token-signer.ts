import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { processLoopLoad } from '../runtime/loop-load.js';

const b64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

/**
 * A fault domain's ES256 token signing key. The private key stays in the domain's data dir
 * (mode 0600) and never leaves the process; only {@link publicJwk} is shared.
 */
export class TokenSigner {
  /** RFC 7638 thumbprint of the public key. */
  readonly kid: string;
  /** The fault domain holding this key: `global`, `regional/<region>`, `backup`. */
  readonly domain: string;
  /** Public key with `kid`, `alg` and `use` set. */
  readonly publicJwk: JWK;
  private readonly privateKey: KeyObject;
  private readonly encodedHeader: string;
  /** Whether the event loop is busy, for {@link signPlaced}; the process's own unless replaced (tests). */
  loopLoad: { readonly busy: boolean } = processLoopLoad;
  /** Signatures {@link signPlaced} made on the event loop and on the thread pool. */
  readonly placed = { loop: 0, pool: 0 };

  private constructor(privateKey: KeyObject, kid: string, domain: string, publicJwk: JWK) {
    this.privateKey = privateKey;
    this.kid = kid;
    this.domain = domain;
    this.publicJwk = publicJwk;
    this.encodedHeader = b64url(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid }));
  }

  /** Builds a signer from a PKCS#8 PEM private key (P-256). */
  static async fromPem(pem: string, domain: string): Promise<TokenSigner> {
    const privateKey = createPrivateKey(pem);
    if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error('signing key must be an EC P-256 private key');
    }
    const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
    const kid = await calculateJwkThumbprint(jwk, 'sha256');
    return new TokenSigner(privateKey, kid, domain, Object.freeze({ ...jwk, kid, alg: 'ES256', use: 'sig' }));
  }

  /** Loads the key at `file`, creating it (and its folder, mode 0700) on first start. */
  static async loadOrCreate(file: string, domain: string): Promise<TokenSigner> {
    let pem: string;
    try {
      pem = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      pem = generateSigningKeyPem();
      writePrivateFile(file, pem);
    }
    return TokenSigner.fromPem(pem, domain);
  }

  /**
   * {@link sign} with the ECDSA signature computed on libuv's thread pool: the event loop goes on
   * with other calls meanwhile, so on a machine with a spare core a domain issues more tokens per
   * second than one thread can sign.
   */
  signAsync(claims: object): Promise<string> {
    const input = this.signingInput(claims);
    return new Promise((resolve, reject) => {
      sign('sha256', Buffer.from(input), { key: this.privateKey, dsaEncoding: 'ieee-p1363' }, (err, signature) => {
        if (err !== null) reject(err);
        else resolve(`${input}.${signature.toString('base64url')}`);
      });
    });
  }

  /**
   * Signs where it costs least: on the event loop while the loop has room, which saves the hand-off
   * to a pool thread and back and the job object the garbage collector tracks for it (both show in
   * the latency of a lightly loaded domain), and on libuv's thread pool ({@link signAsync}) once
   * the loop is busy, so another core signs while the loop goes on with other calls.
   */
  signPlaced(claims: object): Promise<string> {
    if (this.loopLoad.busy) {
      this.placed.pool += 1;
      return this.signAsync(claims);
    }
    this.placed.loop += 1;
    return Promise.resolve(this.sign(claims));
  }

  private signingInput(claims: object): string {
    return `${this.encodedHeader}.${b64url(JSON.stringify(claims))}`;
  }

  /** Signs claims as a JWT with header `{ alg: ES256, typ: at+jwt, kid }`. */
  sign(claims: object): string {
    const input = this.signingInput(claims);
    const signature = sign('sha256', Buffer.from(input), { key: this.privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  }
}

export function generateSigningKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/**
 * Writes a file readable by its owner only, atomically and durably: a temp file with a random
 * name, created exclusively (`wx`, so a planted file or symlink there is never followed) with mode
 * 0600, fsynced, renamed over `file`, and the folder fsynced.
 */
export function writePrivateFile(file: string, content: string | Buffer, tempPrefix = '.'): void {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // `tempPrefix` lets a folder's reader tell a half-written file from a finished one.
  const tmp = path.join(dir, `${tempPrefix}${path.basename(file)}.${randomBytes(12).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeFileSync(fd, content);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, file);
  syncFolder(dir);
}

/** fsyncs a folder so a rename in it survives a crash; a no-op where folders cannot be fsynced. */
export function syncFolder(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
