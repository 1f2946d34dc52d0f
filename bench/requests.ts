import { createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { AcquireTokenRequest } from '../gen/authmesh/token/v1/token.js';
import { ASSERTION_TYPE } from '../lib/token/constants.js';

/**
 * Request bytes of AcquireToken calls, with nothing of the mesh harness, so a load-generating
 * worker thread can build them on its own small heap.
 */

/** Who asks, and for what. */
export interface RequestIdentity {
  tenantId: string;
  clientId: string;
  scope: string;
}

/** What signs a fresh assertion for one workload: its JWS header, the audience and its key. */
export interface AssertionSigner extends RequestIdentity {
  /** The base64url JWS header of the workload's assertions. */
  header: string;
  aud: string;
  key: KeyObject;
}

/** An AssertionSigner that can cross to a worker thread: the key as PKCS#8 PEM. */
export type PortableSigner = Omit<AssertionSigner, 'key'> & { keyPem: string };

/** The request bytes of one AcquireToken call with a given assertion. */
export function encodeAcquire(who: RequestIdentity, assertion: string): Buffer {
  const u8 = AcquireTokenRequest.encode({
    tenantId: who.tenantId,
    clientId: who.clientId,
    scope: who.scope,
    clientAssertion: assertion,
    clientAssertionType: ASSERTION_TYPE,
    clientSecret: '',
  }).finish();
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

/** A fresh assertion (new `jti`), signed with raw node:crypto: the cold path. */
export function signFreshAssertion(s: Pick<AssertionSigner, 'clientId' | 'header' | 'aud' | 'key'>): string {
  const now = Math.floor(Date.now() / 1000);
  const payload = Buffer.from(JSON.stringify({ iss: s.clientId, sub: s.clientId, aud: s.aud, iat: now, nbf: now, exp: now + 600, jti: randomUUID() })).toString('base64url');
  const input = `${s.header}.${payload}`;
  return `${input}.${sign('sha256', Buffer.from(input), { key: s.key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

export function toPortable(s: AssertionSigner): PortableSigner {
  const { key, ...rest } = s;
  return { ...rest, keyPem: key.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

export function fromPortable(p: PortableSigner): AssertionSigner {
  const { keyPem, ...rest } = p;
  return { ...rest, key: createPrivateKey(keyPem) };
}
