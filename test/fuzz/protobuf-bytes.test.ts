import assert from 'node:assert/strict';
import { Metadata, status, type Client, type ServiceError } from '@grpc/grpc-js';
import fc from 'fast-check';
import { AdminServiceService } from '../../gen/authmesh/admin/v1/admin.js';
import { DirectoryServiceService } from '../../gen/authmesh/directory/v1/directory.js';
import { decodeJwt } from 'jose';
import { AcquireTokenRequest, AcquireTokenResponse } from '../../gen/authmesh/token/v1/token.js';
import { ASSERTION_TYPE } from '../../lib/token/index.js';
import { bearer } from '../support/global-harness.js';
import { fuzzParams, fuzzTimeout, malformedMessage as malformed } from './arbitraries.js';
import { assertRefused, assertStillServing, goodAssertion, rawClient, rawUnary, startFuzzTarget, tokenRequest, type FuzzTarget } from './wire-support.js';

/** INTERNAL is acceptable only for a request grpc-js could not decode; anything else is a bug. */
function assertNotABug(err: ServiceError | undefined, what: string): void {
  if (err === undefined) return;
  assert.ok(
    [status.INVALID_ARGUMENT, status.UNAUTHENTICATED, status.PERMISSION_DENIED, status.NOT_FOUND, status.ALREADY_EXISTS, status.OUT_OF_RANGE, status.RESOURCE_EXHAUSTED, status.INTERNAL].includes(err.code),
    `${what}: unexpected ${status[err.code]} ${err.details}`,
  );
  if (err.code === status.INTERNAL) assert.match(err.details, /deserializ/i, `${what}: INTERNAL that is not a decoding failure: ${err.details}`);
}

/** What the server reads from request bytes: undefined when they do not decode. */
function requestMeaning(bytes: Buffer): string | undefined {
  let r: AcquireTokenRequest;
  try {
    r = AcquireTokenRequest.decode(bytes);
  } catch {
    return undefined;
  }
  const type = r.clientAssertionType === '' ? ASSERTION_TYPE : r.clientAssertionType;
  return JSON.stringify([r.tenantId, r.clientId, r.scope, r.clientAssertion, type, r.clientSecret]);
}

/** The parts of an issued token that say who it is for and what it grants. */
function tokenMeaning(response: Buffer): Record<string, unknown> {
  const res = AcquireTokenResponse.decode(response);
  const claims = decodeJwt(res.accessToken);
  return { sub: claims.sub, aud: claims.aud, iss: claims.iss, tid: claims.tid, roles: claims.roles, azp: claims.azp, appid: claims.appid, faultDomain: res.faultDomain };
}

const methodPaths = (def: Record<string, { path: string; responseStream: boolean }>): string[] =>
  Object.values(def).filter((m) => !m.responseStream).map((m) => m.path);

describe('fuzz: malformed protobuf on the wire', function () {
  this.timeout(fuzzTimeout(150, 150));
  let t: FuzzTarget;
  let raw: Client;
  const validRequest = (): Buffer =>
    Buffer.from(AcquireTokenRequest.encode(tokenRequest(t, { clientAssertion: goodAssertion(t) })).finish());

  before(async () => {
    t = await startFuzzTarget();
    raw = rawClient(t.g.server.address);
  });

  after(async () => {
    raw?.close();
    await t?.close();
  });

  afterEach(async () => {
    await assertStillServing(t);
  });

  it('answers the valid encoding with a token (the mutations below start from a real request)', async () => {
    const out = await rawUnary(raw, '/authmesh.token.v1.TokenService/AcquireToken', validRequest());
    assert.ok(out.response !== undefined && out.response.length > 0, out.error?.details);
  });

  /**
   * The property: damaged bytes are refused precisely, unless the damage left the request's meaning
   * as the server reads it unchanged (an empty `client_assertion_type` means the one accepted type;
   * an appended unknown field is skipped), in which case the answer must be the undamaged request's.
   */
  const damagedBytesProperty = async (base: Buffer, bytes: Buffer, seen?: (b: Buffer, issued: boolean) => void): Promise<void> => {
    const out = await rawUnary(raw, '/authmesh.token.v1.TokenService/AcquireToken', bytes);
    const issued = out.response !== undefined;
    seen?.(bytes, issued);
    const meaning = requestMeaning(bytes);
    if (meaning !== undefined && meaning === requestMeaning(base)) {
      if (!issued) {
        // The same request undamaged is answered with a token; so must this one be.
        assert.fail(`an undamaged-in-meaning request was refused: ${out.error ? `${status[out.error.code]} ${out.error.details}` : ''}`);
      }
      const undamaged = await rawUnary(raw, '/authmesh.token.v1.TokenService/AcquireToken', base);
      assert.deepEqual(tokenMeaning(out.response!), tokenMeaning(undamaged.response!), 'the answer differs from the undamaged request\'s');
      return;
    }
    assertNotABug(out.error, 'AcquireToken');
    if (out.error?.code === status.INTERNAL || out.error?.code === status.RESOURCE_EXHAUSTED) return;
    assertRefused(out);
  };

  it('never issues a token for damaged AcquireToken bytes, and refuses them precisely', async () => {
    const base = validRequest();
    await fc.assert(fc.asyncProperty(malformed(base), (bytes) => damagedBytesProperty(base, bytes)), fuzzParams(150));
  });

  it('issues the undamaged answer for the cut that drops only client_assertion_type (seed 979064230, path 105)', async () => {
    let replayed: { bytes: Buffer; issued: boolean } | undefined;
    const base = validRequest();
    await fc.assert(
      fc.asyncProperty(malformed(base), (bytes) => damagedBytesProperty(base, bytes, (b, issued) => (replayed = { bytes: b, issued }))),
      { seed: 979064230, path: '105', numRuns: 1, endOnFailure: true },
    );
    assert.ok(replayed !== undefined, 'the recorded counterexample was not replayed');
    // The recorded case: the message cut at a field boundary, everything but the optional type kept.
    const decoded = AcquireTokenRequest.decode(replayed.bytes);
    const whole = AcquireTokenRequest.decode(base);
    assert.equal(decoded.clientAssertionType, '');
    assert.equal(decoded.tenantId, whole.tenantId);
    assert.equal(decoded.clientId, whole.clientId);
    assert.equal(decoded.scope, whole.scope);
    assert.ok(decoded.clientAssertion.split('.').length === 3, 'the assertion survived the cut whole');
    assert.equal(replayed.issued, true, 'the request kept its meaning, so it gets a token');
  });

  it('answers GetJwks for any bytes with a public key set or a decoding error, never private members', async () => {
    await fc.assert(
      fc.asyncProperty(malformed(Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x63])), async (bytes) => {
        const out = await rawUnary(raw, '/authmesh.token.v1.TokenService/GetJwks', bytes);
        assertNotABug(out.error, 'GetJwks');
        if (out.response !== undefined) assert.doesNotMatch(out.response.toString('latin1'), /"d"\s*:/);
      }),
      fuzzParams(100),
    );
  });

  it('refuses damaged bytes to every admin and directory method without credentials', async () => {
    const paths = [...methodPaths(AdminServiceService), ...methodPaths(DirectoryServiceService)];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), fc.uint8Array({ maxLength: 512 }), async (path, bytes) => {
        const out = await rawUnary(raw, path, Buffer.from(bytes));
        assert.ok(out.error !== undefined, `${path} answered without credentials`);
        assert.ok(out.error.code === status.UNAUTHENTICATED || (out.error.code === status.INTERNAL && /deserializ/i.test(out.error.details)), `${path}: ${status[out.error.code]} ${out.error.details}`);
      }),
      fuzzParams(150),
    );
  });

  it('answers damaged bytes to every admin and directory method with a precise status when the caller is authorized', async () => {
    const admin = methodPaths(AdminServiceService).map((p) => ({ path: p, md: () => bearer(t.g.server.adminToken) }));
    const directory = methodPaths(DirectoryServiceService).map((p) => ({ path: p, md: () => bearer(t.g.server.memberToken('regional-eastus')) }));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...admin, ...directory), malformed(Buffer.from([0x0a, 0x24, ...Buffer.from('00000000-0000-4000-8000-000000000000')])), async (m, bytes) => {
        const out = await rawUnary(raw, m.path, bytes, m.md());
        assertNotABug(out.error, m.path);
      }),
      fuzzParams(150),
    );
  });

  it('refuses random bearer tokens on the admin and directory APIs', async () => {
    const printable = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 200 });
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/authmesh.admin.v1.AdminService/ListTenants', '/authmesh.directory.v1.DirectoryService/LookupIdentity'), fc.oneof(printable, printable.map((s) => `Bearer ${s}`), printable.map((s) => `bearer  ${s}`)), async (path, value) => {
        fc.pre(!value.includes(t.g.server.adminToken) && !value.includes(t.g.server.meshToken));
        const md = new Metadata();
        md.set('authorization', value);
        const out = await rawUnary(raw, path, Buffer.alloc(0), md);
        assert.equal(out.error?.code, status.UNAUTHENTICATED, `${path} with "${value}"`);
      }),
      fuzzParams(150),
    );
  });
});
