import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client, credentials } from '@grpc/grpc-js';
import { loadSync, type ServiceDefinition } from '@grpc/proto-loader';
import { compileErrors, dereference, validate } from '@readme/openapi-parser';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import * as jose from 'jose';
import { ASSERTION_TYPE, buildAssertion } from '../../../lib/token/index.js';
import { RESOURCE } from '../../support/mesh-harness.js';
import { SCOPE, startHttpMesh, type HttpMesh } from './http-mesh.js';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const OPENAPI = path.join(ROOT, 'docs', 'openapi.yaml');
const API_DOC = path.join(ROOT, 'docs', 'api.md');
const FORM = 'application/x-www-form-urlencoded';

interface HeaderSpec {
  required?: boolean;
  schema?: object;
}
interface ResponseSpec {
  headers?: Record<string, HeaderSpec>;
  content?: Record<string, { schema: object }>;
}
interface OperationSpec {
  requestBody?: { content: Record<string, { schema: object }> };
  responses: Record<string, ResponseSpec>;
}
interface Spec {
  openapi: string;
  paths: Record<string, Partial<Record<string, OperationSpec>>>;
}

/** A real answer of the gateway, as the checks below read it. */
interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/** The `command` lines of the sh block after the docs/api.md comment that holds `marker`, continuation lines joined. */
function docLines(doc: string, marker: string, command: string): string[] {
  const at = doc.indexOf(marker);
  assert.ok(at !== -1, `docs/api.md has no block marked "${marker}"`);
  const block = /```sh\n([\s\S]*?)```/.exec(doc.slice(at));
  assert.ok(block !== null, 'no sh block after the marker');
  return block[1]!
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`${command} `));
}

/** Runs a command line with bash in `env`; resolves with its stdout. */
function bash(line: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('bash', ['-c', line], { env, timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${line}\n${err.message}\n${stderr}`)) : resolve(stdout))),
  );
}

/** A grpcurl command line as grpcurl would read its arguments. */
interface GrpcurlLine {
  plaintext: boolean;
  importPath?: string;
  proto?: string;
  data?: string;
  address: string;
  /** `list`, `describe SYMBOL`, or `SERVICE/METHOD`. */
  rest: string[];
}

/** The arguments the shell gives grpcurl for `line`, read as grpcurl's flags. */
async function grpcurlArgs(line: string, env: NodeJS.ProcessEnv): Promise<GrpcurlLine> {
  const argv = (await bash(`printf '%s\\0' ${line.slice('grpcurl '.length)}`, env)).split('\0').slice(0, -1);
  const out: Partial<GrpcurlLine> & { rest: string[] } = { plaintext: false, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-plaintext') out.plaintext = true;
    else if (a === '-import-path') out.importPath = argv[++i];
    else if (a === '-proto') out.proto = argv[++i];
    else if (a === '-d') out.data = argv[++i];
    else if (a.startsWith('-')) assert.fail(`grpcurl flag ${a} is not one this test reads`);
    else if (out.address === undefined) out.address = a;
    else out.rest.push(a);
  }
  assert.ok(out.address !== undefined, line);
  return out as GrpcurlLine;
}

/**
 * docs/openapi.yaml against a real gateway HTTPS front (global, regional and gateway processes):
 * the document is valid OpenAPI 3.1, and every answer the gateway gives here — bodies, status
 * codes and required headers — is one the document describes, validated with Ajv (JSON Schema
 * 2020-12). The curl lines of docs/api.md run against the same gateway, and the calls its grpcurl lines
 * name are made with grpc-js against its gRPC port (grpcurl has no Debian package).
 */
describe('docs/openapi.yaml and the docs/api.md curl and grpcurl lines against a running gateway', function () {
  this.timeout(90_000);
  let h: HttpMesh;
  let spec: Spec;
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);

  before(async () => {
    spec = (await dereference(OPENAPI)) as unknown as Spec;
    h = await startHttpMesh();
  });

  after(async () => {
    await h?.close();
  });

  /** The documented operation a real URL and method reach. */
  function operationOf(method: string, url: string): OperationSpec {
    const { pathname } = new URL(url);
    for (const [template, item] of Object.entries(spec.paths)) {
      const pattern = new RegExp(`^${template.replace(/\./g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`);
      const op = item[method.toLowerCase()];
      if (pattern.test(pathname) && op !== undefined) return op;
    }
    assert.fail(`${method} ${pathname} is not in docs/openapi.yaml`);
  }

  const schemaProblems = (schema: object, value: unknown, what: string): string[] =>
    ajv.validate(schema, value) ? [] : [`${what}: ${ajv.errorsText(ajv.errors, { separator: '; ' })}`];

  /** What of a real answer docs/openapi.yaml does not describe; empty when it describes it all. */
  function undocumented(method: string, url: string, a: Answer): string[] {
    const r = operationOf(method, url).responses[String(a.status)];
    if (r === undefined) return [`status ${a.status} of ${method} is not documented (body ${a.text})`];
    const problems: string[] = [];
    for (const [name, header] of Object.entries(r.headers ?? {})) {
      const value = a.headers.get(name);
      if (value === null) {
        if (header.required === true) problems.push(`required header ${name} is missing`);
      } else if (header.schema !== undefined) {
        problems.push(...schemaProblems(header.schema, value, `header ${name}`));
      }
    }
    const json = r.content?.['application/json'];
    if (json === undefined) {
      if (a.text !== '') problems.push(`a body where none is documented: ${a.text}`);
      return problems;
    }
    if (!(a.headers.get('content-type') ?? '').startsWith('application/json')) problems.push(`content-type ${a.headers.get('content-type')}`);
    return [...problems, ...schemaProblems(json.schema, JSON.parse(a.text) as unknown, `body ${a.text}`)];
  }

  /** What of a form the token operation's request schema refuses. */
  function requestProblems(url: string, form: URLSearchParams): string[] {
    const schema = operationOf('POST', url).requestBody?.content[FORM]?.schema;
    assert.ok(schema !== undefined, 'the token endpoint documents no form body');
    return schemaProblems(schema, Object.fromEntries(form), 'request form');
  }

  async function call(method: string, url: string, init: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
    const res = await h.fetch(url, { method, ...init });
    return { status: res.status, headers: res.headers, text: await res.text() };
  }

  /** The variables docs/api.md sets before its curl and grpcurl lines, for this mesh. */
  const docEnv = (): NodeJS.ProcessEnv => ({
    ...process.env,
    GW: h.base,
    CA: path.join(h.mesh.dir, 'gateway-eastus', 'tls', 'ca.pem'),
    TENANT: h.tenantId,
    CLIENT_ID: h.secretWorkload.clientId,
    CLIENT_SECRET: h.secretWorkload.secret,
  });

  const discoveryUrl = (): string => `${h.issuer}/.well-known/openid-configuration`;
  const jwksUrl = (): string => `${h.base}/${h.tenantId}/discovery/v2.0/keys`;

  const postForm = (form: URLSearchParams, headers: Record<string, string> = {}): Promise<Answer> =>
    call('POST', h.tokenUrl, { headers: { 'content-type': FORM, ...headers }, body: form.toString() });

  it('is a valid OpenAPI 3.1 document', async () => {
    const result = await validate(OPENAPI);
    assert.ok(result.valid, result.valid ? '' : compileErrors(result));
    assert.match(spec.openapi, /^3\.1\./);
  });

  it('documents the endpoints at the URLs discovery publishes', async () => {
    const a = await call('GET', discoveryUrl());
    assert.equal(a.status, 200);
    const meta = JSON.parse(a.text) as { token_endpoint: string; jwks_uri: string };
    assert.ok(operationOf('POST', meta.token_endpoint).requestBody !== undefined);
    assert.ok(operationOf('GET', meta.jwks_uri).responses['200'] !== undefined);
  });

  for (const [what, url] of [['discovery document', () => discoveryUrl()], ['JWK Set', () => jwksUrl()]] as const) {
    it(`describes the real ${what}, its 304 answer to If-None-Match and its HEAD answer`, async () => {
      const a = await call('GET', url());
      assert.equal(a.status, 200);
      assert.deepEqual(undocumented('GET', url(), a), []);
      const again = await call('GET', url(), { headers: { 'if-none-match': a.headers.get('etag')! } });
      assert.equal(again.status, 304);
      assert.deepEqual(undocumented('GET', url(), again), []);
      const head = await call('HEAD', url());
      assert.equal(head.status, 200);
      assert.deepEqual(undocumented('HEAD', url(), head), []);
    });
  }

  it('documents the request forms of client_secret_post, client_secret_basic and private_key_jwt and describes their token answers', async () => {
    const { clientId, secret } = h.secretWorkload;
    const w = h.certWorkload;
    const { assertion } = await buildAssertion({ tenantId: w.tenantId, clientId: w.clientId, issuer: h.base, privateKey: w.privateKey, lifetimeSeconds: 300 });
    const cases: { name: string; form: URLSearchParams; headers?: Record<string, string> }[] = [
      { name: 'client_secret_post', form: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, scope: SCOPE }) },
      {
        name: 'client_secret_basic',
        form: new URLSearchParams({ grant_type: 'client_credentials', scope: SCOPE }),
        headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}` },
      },
      { name: 'private_key_jwt', form: new URLSearchParams({ grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion, scope: SCOPE }) },
    ];
    for (const c of cases) {
      assert.deepEqual(requestProblems(h.tokenUrl, c.form), [], c.name);
      const a = await postForm(c.form, c.headers);
      assert.equal(a.status, 200, `${c.name}: ${a.text}`);
      assert.deepEqual(undocumented('POST', h.tokenUrl, a), [], c.name);
    }
    // A form with two client authentication methods is not one the document allows.
    assert.notDeepEqual(requestProblems(h.tokenUrl, new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, client_assertion: assertion, client_assertion_type: ASSERTION_TYPE })), []);
  });

  it('describes the error answers: 400, 401, 405, 413 and 415', async () => {
    const { clientId, secret } = h.secretWorkload;
    const answers: [string, number, string, Answer][] = [
      ['unsupported grant', 400, 'unsupported_grant_type', await postForm(new URLSearchParams({ grant_type: 'password', client_id: clientId, client_secret: secret }))],
      ['unknown resource', 400, 'invalid_scope', await postForm(new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, scope: 'https://nowhere.example/.default' }))],
      ['wrong secret', 401, 'invalid_client', await postForm(new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: 'not-the-secret', scope: SCOPE }))],
      ['GET on the token endpoint', 405, 'invalid_request', await call('GET', h.tokenUrl)],
      ['a body over the limit', 413, 'invalid_request', await call('POST', h.tokenUrl, { headers: { 'content-type': FORM }, body: `grant_type=client_credentials&scope=${'a'.repeat(70_000)}` })],
      ['a JSON body', 415, 'invalid_request', await call('POST', h.tokenUrl, { headers: { 'content-type': 'application/json' }, body: '{"grant_type":"client_credentials"}' })],
    ];
    for (const [what, status, error, a] of answers) {
      assert.equal(a.status, status, `${what}: ${a.text}`);
      assert.equal((JSON.parse(a.text) as { error: string }).error, error, what);
      // OpenAPI lists answers per operation: the endpoint's 405 is documented on its POST.
      assert.deepEqual(undocumented('POST', h.tokenUrl, a), [], what);
    }
  });

  it('runs the docs/api.md curl lines against the gateway and gets the answers the document describes', async () => {
    const lines = docLines(fs.readFileSync(API_DOC, 'utf8'), 'api-docs.test.ts runs every curl line', 'curl');
    assert.equal(lines.length, 4, lines.join('\n'));
    const env = docEnv();
    const jwks = jose.createRemoteJWKSet(new URL(jwksUrl()), { [jose.customFetch]: h.fetch });
    const seen = new Set<string>();
    for (const line of lines) {
      const out = await bash(line, env);
      const body = JSON.parse(out) as Record<string, unknown>;
      const url = line.includes('/oauth2/v2.0/token') ? h.tokenUrl : line.includes('/discovery/v2.0/keys') ? jwksUrl() : discoveryUrl();
      const method = url === h.tokenUrl ? 'POST' : 'GET';
      seen.add(url);
      const schema = operationOf(method, url).responses['200']!.content!['application/json']!.schema;
      assert.deepEqual(schemaProblems(schema, body, line), []);
      if (url === h.tokenUrl) {
        const { payload } = await jose.jwtVerify(String(body.access_token), jwks, { issuer: h.issuer, audience: RESOURCE, typ: 'at+jwt' });
        assert.equal(payload.client_id, h.secretWorkload.clientId, line);
      } else if (url === discoveryUrl()) {
        assert.equal(body.issuer, h.issuer);
      }
    }
    assert.equal(seen.size, 3, 'the curl lines reach discovery, the JWK Set and the token endpoint');
  });

  it('makes the docs/api.md grpcurl calls (address, method and proto JSON) against the gateway gRPC port: a token and the published key set', async () => {
    const lines = docLines(fs.readFileSync(API_DOC, 'utf8'), 'makes the calls of these grpcurl lines', 'grpcurl');
    const env = docEnv();
    const jwks = jose.createRemoteJWKSet(new URL(jwksUrl()), { [jose.customFetch]: h.fetch });
    const published = JSON.parse((await call('GET', jwksUrl())).text) as unknown;
    const called: string[] = [];
    for (const line of lines) {
      const g = await grpcurlArgs(line, env);
      // docs/api.md names the eastus gateway of `make run-mesh`; here it is this mesh's.
      assert.equal(g.address, '127.0.0.1:50050', line);
      assert.ok(g.plaintext, `${line}: the gateway's gRPC port is plaintext`);
      // Without -proto grpcurl asks reflection, which serves the descriptors of these same files.
      const importPath = path.join(ROOT, g.importPath ?? 'proto');
      const defs = loadSync(g.proto ?? 'authmesh/token/v1/token.proto', { includeDirs: [importPath], longs: String });
      if (g.rest[0] === 'list') continue;
      if (g.rest[0] === 'describe') {
        assert.ok(defs[g.rest[1] ?? ''] !== undefined, `${line}: no symbol ${g.rest[1]}`);
        continue;
      }
      const [service, name] = (g.rest[0] ?? '').split('/');
      const method = (defs[service ?? ''] as ServiceDefinition | undefined)?.[name ?? ''];
      assert.ok(method !== undefined && g.rest.length === 1, `${line}: no method ${g.rest[0]}`);
      // Proto JSON: each key is a field's JSON name (lowerCamelCase) or its proto name.
      const fields = (method.requestType.type as { field: { name: string }[] }).field.map((f) => f.name);
      const request = Object.fromEntries(
        Object.entries(JSON.parse(g.data ?? '{}') as Record<string, unknown>).map(([key, value]) => {
          const jsonName = key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
          assert.ok(fields.includes(jsonName), `${line}: ${key} is not a field of the request`);
          return [jsonName, value];
        }),
      );
      const client = new Client(h.mesh.address('gateway-eastus'), credentials.createInsecure());
      const response = await new Promise<Record<string, unknown>>((resolve, reject) =>
        client.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize as (b: Buffer) => Record<string, unknown>, request, (err, res) => (err ? reject(err) : resolve(res!))),
      ).finally(() => client.close());
      called.push(name!);
      if (name === 'AcquireToken') {
        const { payload } = await jose.jwtVerify(String(response.accessToken), jwks, { issuer: h.issuer, audience: RESOURCE, typ: 'at+jwt' });
        assert.equal(payload.client_id, h.secretWorkload.clientId, line);
      } else {
        assert.deepEqual(JSON.parse(String(response.jwksJson)), published, line);
      }
    }
    assert.deepEqual(called, ['AcquireToken', 'GetJwks', 'GetJwks']);
  });

  it('describes the 503 answers when no fault domain can answer', async () => {
    await Promise.all(['regional-eastus', 'global'].map((name) => h.mesh.procs.get(name)!.stop(3000)));
    const { clientId, secret } = h.secretWorkload;
    const a = await postForm(new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, scope: SCOPE }));
    assert.equal(a.status, 503, a.text);
    assert.deepEqual(undocumented('POST', h.tokenUrl, a), []);
    const keys = await call('GET', jwksUrl());
    assert.equal(keys.status, 503, keys.text);
    assert.deepEqual(undocumented('GET', jwksUrl(), keys), []);
  });
});
