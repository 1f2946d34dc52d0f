import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeAction, planApply, PlanConflict, type CurrentTenant } from '../../../cli/apply-plan.js';
import { IdentitiesFileError, parseIdentities } from '../../../cli/identities-file.js';
import { parseCredentialPem } from '../../../lib/token/index.js';

const keys = (): { pub: string; priv: string } => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { pub: publicKey.export({ format: 'pem', type: 'spki' }).toString(), priv: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
};

const indent = (text: string, n: number): string => text.trimEnd().split('\n').map((l) => `${' '.repeat(n)}${l}`).join('\n');

describe('identities file', () => {
  let dir: string;
  let billing: { pub: string; priv: string };

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-identities-'));
    billing = keys();
    fs.writeFileSync(path.join(dir, 'billing.pub.pem'), billing.pub);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const valid = (): string => `
tenants:
  - name: contoso
    resources:
      - identifier: https://orders.example
        roles: [Orders.Read, Orders.Write]
    apps:
      - name: billing
        certificates:
          - path: billing.pub.pem
        roles:
          - resource: https://orders.example
            role: Orders.Read
`;

  /** The error a file gets, as "path: problem". */
  async function refusal(text: string): Promise<IdentitiesFileError> {
    try {
      await parseIdentities(text, dir);
    } catch (err) {
      if (err instanceof IdentitiesFileError) return err;
      throw err;
    }
    throw new Error('the file was accepted');
  }

  it('reads tenants, resources, apps, certificates (path relative to the file) and role grants', async () => {
    const spec = await parseIdentities(valid(), dir);
    const { keyId } = await parseCredentialPem(billing.pub);
    assert.equal(spec.tenants.length, 1);
    const t = spec.tenants[0]!;
    assert.equal(t.name, 'contoso');
    assert.deepEqual(t.resources, [{ identifier: 'https://orders.example', roles: ['Orders.Read', 'Orders.Write'] }]);
    assert.equal(t.apps[0]!.certificates[0]!.keyId, keyId);
    assert.equal(t.apps[0]!.certificates[0]!.source, path.join(dir, 'billing.pub.pem'));
    assert.deepEqual(t.apps[0]!.roles, [{ resource: 'https://orders.example', role: 'Orders.Read' }]);
  });

  it('reads examples/identities.yaml without a mistake', async () => {
    const file = path.resolve(__dirname, '..', '..', '..', '..', 'examples', 'identities.yaml');
    const spec = await parseIdentities(fs.readFileSync(file, 'utf8'), path.dirname(file));
    assert.deepEqual(spec.tenants.map((t) => t.apps.map((a) => a.name)), [['billing-job', 'audit-reader']]);
  });

  it('reads an inline PEM certificate', async () => {
    const other = keys();
    const text = `tenants:\n  - name: t\n    apps:\n      - name: a\n        certificates:\n          - pem: |\n${indent(other.pub, 14)}\n`;
    const spec = await parseIdentities(text, dir);
    assert.equal(spec.tenants[0]!.apps[0]!.certificates[0]!.keyId, (await parseCredentialPem(other.pub)).keyId);
    assert.equal(spec.tenants[0]!.apps[0]!.certificates[0]!.source, 'inline');
  });

  const cases: [string, (text: string) => string, string, RegExp][] = [
    ['an unknown field', (t) => t.replace('        roles:\n          - resource', '        rolez:\n          - resource'), 'tenants[0].apps[0].rolez', /unknown field/],
    ['a missing app name', (t) => t.replace('- name: billing', '- enabled: true'), 'tenants[0].apps[0].name', /is required/],
    ['a relative resource identifier', (t) => t.replace('identifier: https://orders.example', 'identifier: orders'), 'tenants[0].resources[0].identifier', /absolute URI/],
    ['a bad role name', (t) => t.replace('[Orders.Read, Orders.Write]', '[Orders.Read, "9bad"]'), 'tenants[0].resources[0].roles', /must start with a letter/],
    ['a grant of an undefined role', (t) => t.replace('role: Orders.Read', 'role: Orders.Delete'), 'tenants[0].apps[0].roles[0].role', /not one of/],
    ['a grant on an undefined resource', (t) => t.replace('- resource: https://orders.example', '- resource: https://other.example'), 'tenants[0].apps[0].roles[0].resource', /not defined/],
    ['a missing PEM file', (t) => t.replace('billing.pub.pem', 'nope.pem'), 'tenants[0].apps[0].certificates[0].path', /cannot read nope.pem: ENOENT/],
    ['a string where a list belongs', (t) => t.replace('    resources:\n      - identifier: https://orders.example\n        roles: [Orders.Read, Orders.Write]\n', '    resources: orders\n'), 'tenants[0].resources', /must be a list/],
    ['a non-boolean enabled', (t) => t.replace('- name: billing', '- name: billing\n        enabled: "yes"'), 'tenants[0].apps[0].enabled', /true or false/],
    ['a tenant listed twice', (t) => `${t}  - name: contoso\n`, 'tenants[1].name', /listed twice/],
    ['a misspelt top-level field', () => 'tenant: []\n', 'tenant', /unknown field/],
    ['no tenants list', () => '{}\n', 'tenants', /is required/],
  ];
  for (const [what, edit, at, problem] of cases) {
    it(`names ${at} when the file has ${what}`, async () => {
      const err = await refusal(edit(valid()));
      assert.equal(err.path, at, err.message);
      assert.match(err.problem, problem);
    });
  }

  it('names the line of the bad field', async () => {
    const err = await refusal(valid().replace('identifier: https://orders.example', 'identifier: orders'));
    assert.match(err.message, /\(line 5\)/);
  });

  it('refuses a private key given as a certificate without echoing it', async () => {
    fs.writeFileSync(path.join(dir, 'billing.key.pem'), billing.priv);
    const err = await refusal(valid().replace('billing.pub.pem', 'billing.key.pem'));
    assert.equal(err.path, 'tenants[0].apps[0].certificates[0].path');
    assert.match(err.problem, /private key/);
    assert.ok(!err.message.includes(billing.priv.split('\n')[1]!));
  });

  it('refuses text that is not YAML with the line of the mistake', async () => {
    const err = await refusal('tenants:\n  - name: [unclosed\n');
    assert.equal(err.path, '(file)');
    assert.match(err.problem, /not valid YAML/);
  });
});

describe('apply plan', () => {
  let pub: string;
  let keyId: string;
  before(async () => {
    pub = keys().pub;
    keyId = (await parseCredentialPem(pub)).keyId;
  });

  const spec = (): Parameters<typeof planApply>[0] => ({
    tenants: [
      {
        name: 'contoso',
        resources: [{ identifier: 'https://orders.example', roles: ['Orders.Read'] }],
        apps: [{ name: 'billing', certificates: [{ source: 'billing.pub.pem', pem: pub, keyId }], roles: [{ resource: 'https://orders.example', role: 'Orders.Read' }] }],
      },
    ],
  });
  const applied = (): CurrentTenant[] => [
    {
      tenantId: 't1',
      name: 'contoso',
      refuseAssertionReuse: false,
      resources: [{ identifier: 'https://orders.example', roles: ['Orders.Read'] }],
      apps: [{ clientId: 'c1', name: 'billing', enabled: true, refuseAssertionReuse: false, keyIds: [keyId], grants: ['https://orders.example#Orders.Read'] }],
    },
  ];

  it('creates everything, in dependency order, on an empty directory', () => {
    assert.deepEqual(
      planApply(spec(), []).map((a) => a.kind),
      ['create-tenant', 'create-resource', 'create-app', 'add-certificate', 'grant-role'],
    );
  });

  it('creates an application the file marks enabled: false and then disables it', () => {
    const s = spec();
    s.tenants[0]!.apps[0]!.enabled = false;
    assert.deepEqual(planApply(s, []).map((a) => a.kind), ['create-tenant', 'create-resource', 'create-app', 'set-app-enabled', 'add-certificate', 'grant-role']);
  });

  it('plans nothing when the directory already matches the file', () => {
    assert.deepEqual(planApply(spec(), applied()), []);
  });

  it('plans only what is missing: a new certificate and a grant', () => {
    const current = applied();
    current[0]!.apps[0]!.keyIds = ['older-key'];
    current[0]!.apps[0]!.grants = [];
    const plan = planApply(spec(), current);
    assert.deepEqual(plan.map((a) => a.kind), ['add-certificate', 'grant-role']);
  });

  it('plans to disable an existing application the file marks enabled: false', () => {
    const s = spec();
    s.tenants[0]!.apps[0]!.enabled = false;
    assert.deepEqual(planApply(s, applied()), [{ kind: 'set-app-enabled', tenant: 'contoso', app: 'billing', enabled: false }]);
  });

  it('refuses a resource whose roles differ from the directory, naming the field', () => {
    const current = applied();
    current[0]!.resources[0]!.roles = ['Orders.Write'];
    assert.throws(() => planApply(spec(), current), (err: unknown) => err instanceof PlanConflict && /^tenants\[0\]\.resources\[0\]\.roles:/.test(err.message));
  });

  it('describes a certificate by key id and source, never by its PEM', () => {
    const line = describeAction(planApply(spec(), []).find((a) => a.kind === 'add-certificate')!);
    assert.equal(line, `add certificate ${keyId} (billing.pub.pem) to app "billing" in tenant "contoso"`);
    assert.ok(!line.includes('BEGIN'));
  });
});
