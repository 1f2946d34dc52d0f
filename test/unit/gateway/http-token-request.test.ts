import assert from 'node:assert/strict';
import { formParameters, parseTokenRequest } from '../../../gateway/front/http-token-request.js';

const SCOPE = 'https://storage.authmesh.local/.default';
const form = (fields: Record<string, string>, extra = ''): string => `${new URLSearchParams(fields).toString()}${extra}`;

describe('parseTokenRequest', () => {
  it('builds the AcquireTokenRequest of a client_secret_post form, ignoring parameters it does not know', () => {
    const r = parseTokenRequest('t1', form({ grant_type: 'client_credentials', scope: SCOPE, client_id: 'app', client_secret: 's3cr+t', resource: 'x' }), undefined);
    assert.deepEqual(r, {
      ok: true,
      method: 'client_secret_post',
      request: { tenantId: 't1', clientId: 'app', scope: SCOPE, clientAssertion: '', clientAssertionType: '', clientSecret: 's3cr+t' },
    });
  });

  it('builds the AcquireTokenRequest of a private_key_jwt form with the assertion and its type', () => {
    const r = parseTokenRequest('t1', form({ grant_type: 'client_credentials', client_id: 'app', client_assertion: 'a.b.c', client_assertion_type: 'urn:x' }), undefined);
    assert.deepEqual(r, {
      ok: true,
      method: 'private_key_jwt',
      request: { tenantId: 't1', clientId: 'app', scope: '', clientAssertion: 'a.b.c', clientAssertionType: 'urn:x', clientSecret: '' },
    });
  });

  it('takes the client from Basic credentials when client_secret_basic is used', () => {
    const basic = `Basic ${Buffer.from('app:pw').toString('base64')}`;
    const r = parseTokenRequest('t1', form({ grant_type: 'client_credentials', scope: SCOPE }), basic);
    assert.deepEqual(r, {
      ok: true,
      method: 'client_secret_basic',
      request: { tenantId: 't1', clientId: 'app', scope: SCOPE, clientAssertion: '', clientAssertionType: '', clientSecret: 'pw' },
    });
  });

  it('accepts a repeated parameter it does not know', () => {
    const r = parseTokenRequest('t1', form({ grant_type: 'client_credentials', client_id: 'app', client_secret: 's' }, '&resource=a&resource=b'), undefined);
    assert.equal(r.ok, true);
  });

  it('treats an empty parameter as absent', () => {
    const r = parseTokenRequest('t1', form({ grant_type: 'client_credentials', client_id: 'app', client_secret: 's', client_assertion: '' }), undefined);
    assert.equal(r.ok, true);
    assert.equal(r.ok && r.method, 'client_secret_post');
  });

  it('names the first repeated parameter in field order when several are repeated, whatever their order in the body', () => {
    const body = form({ grant_type: 'client_credentials', client_id: 'app', client_secret: 's', scope: SCOPE }, '&client_secret=t&scope=x&other=1&other=2');
    const r = parseTokenRequest('t1', body, undefined);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.error.error, 'invalid_request');
    assert.equal(!r.ok && r.error.description, 'parameter scope is repeated');
  });

  it('refuses a repeated parameter even when one of its values is empty', () => {
    const r = parseTokenRequest('t1', form({ grant_type: 'client_credentials', client_id: 'app', client_secret: 's' }, '&client_id='), undefined);
    assert.equal(!r.ok && r.error.description, 'parameter client_id is repeated');
  });
});

describe('formParameters', () => {
  const read = formParameters;
  const whatwg = (body: string): string[] => [...new URLSearchParams(body)].flat();

  it('gives the names and values URLSearchParams gives for forms with encodings, repeats, empty parts and bad sequences', () => {
    const bodies = [
      '', '&', '&&a=1&&', 'a', 'a=', '=', '=b', 'a=b=c', '?a=1&b=2', '??a=1', 'a=1?b=2',
      'grant_type=client_credentials&scope=https%3A%2F%2Fstorage.authmesh.local%2F.default&client_id=c&client_secret=ams_x-Y_z',
      'a=b+c', 'a=b%2Bc', 'a+b=c', 'a%3Db=c', 'a=%E2%82%AC', 'a=\u20ac+%20', 'x=1&x=2&x=',
      'a=%zz', 'a=%', 'a=%2', 'a=%FF', 'a=%ED%A0%80', 'a=%C3', 'b=1&a=%zz&c=2', 'a=%EF%BB%BFx', '%61=1',
    ];
    for (const body of bodies) assert.deepEqual(read(body), whatwg(body), JSON.stringify(body));
  });

  it('gives what URLSearchParams gives for random bodies over the characters the form syntax uses', () => {
    const alphabet = ['a', 'b', '=', '&', '+', '%', '2', 'B', 'F', 'E', 'z', '?', '\u00e9', ' ', '%20', '%2B', '%C3%A9', '%FF', '%E2%82'];
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 5000; i++) {
      let body = '';
      const length = next(16);
      for (let j = 0; j < length; j++) body += alphabet[next(alphabet.length)];
      assert.deepEqual(read(body), whatwg(body), JSON.stringify(body));
    }
  });
});
