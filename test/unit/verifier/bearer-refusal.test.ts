import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { MISSING_TOKEN, readBearer, refusalOf, wwwAuthenticate } from '../../../verifier/bearer-refusal.js';
import { RoleMissingError, VerifierError } from '../../../verifier/index.js';

describe('bearer-refusal', () => {
  describe('readBearer', () => {
    it('reads the token of one Bearer value, whatever the case of the scheme', () => {
      assert.deepEqual(readBearer(['Bearer abc.def-_~+/=']), { kind: 'token', token: 'abc.def-_~+/=' });
      assert.deepEqual(readBearer(['bearer  eyJ.x.y ']), { kind: 'token', token: 'eyJ.x.y' });
    });

    it('treats no value and another scheme as a request without a bearer token', () => {
      assert.deepEqual(readBearer([]), { kind: 'missing' });
      assert.deepEqual(readBearer(['Basic dXNlcjpwYXNz']), { kind: 'missing' });
      assert.deepEqual(readBearer(['Bearerish abc']), { kind: 'missing' });
    });

    it('calls malformed an empty Bearer, a token with spaces or illegal characters, and two values', () => {
      for (const values of [['Bearer'], ['Bearer '], ['Bearer a b'], ['Bearer a"b'], ['Bearer a', 'Bearer b'], ['Bearer a', 'Basic b']]) {
        assert.deepEqual(readBearer(values), { kind: 'malformed' }, JSON.stringify(values));
      }
    });
  });

  describe('refusalOf', () => {
    it('maps a missing role to 403 insufficient_scope and PERMISSION_DENIED', () => {
      assert.deepEqual(refusalOf(new RoleMissingError(['Blob.Write'], ['Blob.Read'])), {
        error: 'insufficient_scope', description: 'the token lacks the role Blob.Write', httpStatus: 403, grpcStatus: status.PERMISSION_DENIED,
      });
    });

    it('maps any other refusal to 401 invalid_token, an unreachable key set to 503, and leaves unknown errors to the caller', () => {
      assert.equal(refusalOf(new VerifierError('ERR_TOKEN_EXPIRED', 'the token has expired'))?.error, 'invalid_token');
      assert.equal(refusalOf(new VerifierError('ERR_TOKEN_EXPIRED', 'x'))?.grpcStatus, status.UNAUTHENTICATED);
      assert.deepEqual([refusalOf(new VerifierError('ERR_JWKS_UNAVAILABLE', 'x'))?.httpStatus, refusalOf(new VerifierError('ERR_JWKS_UNAVAILABLE', 'x'))?.grpcStatus], [503, status.UNAVAILABLE]);
      assert.equal(refusalOf(new Error('boom')), undefined);
    });
  });

  describe('wwwAuthenticate', () => {
    it('is a bare Bearer challenge, with the realm if any, when no token was sent', () => {
      assert.equal(wwwAuthenticate(MISSING_TOKEN, undefined), 'Bearer');
      assert.equal(wwwAuthenticate(MISSING_TOKEN, 'api'), 'Bearer realm="api"');
    });

    it('keeps quotes, backslashes and non-ASCII out of the quoted values', () => {
      const refusal = refusalOf(new VerifierError('ERR_TOKEN_CLAIM', 'claim "tid" \\ bad é'))!;
      assert.equal(wwwAuthenticate(refusal, undefined), `Bearer error="invalid_token", error_description="claim 'tid' ' bad '"`);
    });
  });
});
