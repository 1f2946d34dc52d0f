import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { nameField, resourceField, roleField, rolesField } from '../services/global/admin-input.js';
import { parseCredentialPem } from '../lib/token/index.js';

/** A certificate credential from the file: its PEM and the key id the directory will give it. */
export interface CertificateSpec {
  /** Where it came from, for messages: the PEM path, or `inline`. */
  source: string;
  pem: string;
  keyId: string;
}

export interface AppSpec {
  name: string;
  enabled?: boolean;
  refuseAssertionReuse?: boolean;
  certificates: CertificateSpec[];
  roles: { resource: string; role: string }[];
}

export interface TenantSpec {
  name: string;
  refuseAssertionReuse?: boolean;
  resources: { identifier: string; roles: string[] }[];
  apps: AppSpec[];
}

export interface IdentitiesSpec {
  tenants: TenantSpec[];
}

/** A mistake in the identities file: `path` names the bad field (e.g. `tenants[0].apps[1].name`). */
export class IdentitiesFileError extends Error {
  override readonly name = 'IdentitiesFileError';
  constructor(
    readonly path: string,
    readonly problem: string,
    line?: number,
  ) {
    super(`${path}${line === undefined ? '' : ` (line ${line})`}: ${problem}`);
  }
}

type Plain = unknown;

/** Walks the parsed document, each value with its path and source line. */
class Cursor {
  constructor(
    readonly at: string,
    readonly value: Plain,
    private readonly node: Node | null | undefined,
    private readonly lines: LineCounter,
  ) {}

  error(problem: string): IdentitiesFileError {
    const offset = this.node?.range?.[0];
    return new IdentitiesFileError(this.at === '' ? '(top level)' : this.at, problem, offset === undefined ? undefined : this.lines.linePos(offset).line);
  }

  /** A mapping with only the named keys; unknown keys are refused by name. */
  map(allowed: readonly string[]): void {
    if (!isMap(this.node)) throw this.error('must be a mapping');
    for (const item of this.node.items) {
      const key = isScalar(item.key) ? String(item.key.value) : String(item.key);
      if (!allowed.includes(key)) throw this.child(key).error(`unknown field (expected one of: ${allowed.join(', ')})`);
    }
  }

  child(key: string): Cursor {
    const node = isMap(this.node) ? (this.node.get(key, true) as Node | undefined) : undefined;
    const value = (this.value as Record<string, Plain> | null)?.[key];
    return new Cursor(this.at === '' ? key : `${this.at}.${key}`, value, node, this.lines);
  }

  /** The entries of an optional list (absent means empty). */
  list(): Cursor[] {
    if (this.value === undefined || this.value === null) return [];
    if (!isSeq(this.node) || !Array.isArray(this.value)) throw this.error('must be a list');
    const items = this.node.items;
    return (this.value as Plain[]).map((v, i) => new Cursor(`${this.at}[${i}]`, v, items[i] as Node, this.lines));
  }

  string(): string {
    if (typeof this.value !== 'string') throw this.error(this.value === undefined ? 'is required' : 'must be a string');
    return this.value;
  }

  optionalBoolean(): boolean | undefined {
    if (this.value === undefined) return undefined;
    if (typeof this.value !== 'boolean') throw this.error('must be true or false');
    return this.value;
  }

  /** Runs a directory field check, turning its refusal into an error at this path. */
  check<T>(fn: (field: string) => T): T {
    try {
      return fn(this.at);
    } catch (err) {
      const message = (err as Error).message;
      throw this.error(message.startsWith(this.at) ? message.slice(this.at.length).trim() : message);
    }
  }

  present(): boolean {
    return this.value !== undefined;
  }
}

/**
 * Reads and validates an identities file. PEM paths are relative to the file. Every mistake is an
 * {@link IdentitiesFileError} naming the bad field; a PEM's content never appears in a message.
 */
export async function parseIdentities(text: string, baseDir: string): Promise<IdentitiesSpec> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const first = doc.errors[0];
  if (first !== undefined) {
    const line = first.linePos?.[0]?.line;
    throw new IdentitiesFileError('(file)', `not valid YAML: ${first.message.split('\n')[0] ?? ''}`, line);
  }
  const root = new Cursor('', doc.toJS() as Plain, doc.contents, lines);
  root.map(['tenants']);
  const tenantsCursor = root.child('tenants');
  if (!tenantsCursor.present()) throw tenantsCursor.error('is required');
  const tenants: TenantSpec[] = [];
  const tenantNames = new Set<string>();
  for (const t of tenantsCursor.list()) {
    t.map(['name', 'refuseAssertionReuse', 'resources', 'apps']);
    const nameCursor = t.child('name');
    const name = nameCursor.check((f) => nameField(f, nameCursor.string()));
    if (tenantNames.has(name)) throw nameCursor.error(`tenant "${name}" is listed twice`);
    tenantNames.add(name);
    const resources: TenantSpec['resources'] = [];
    for (const r of t.child('resources').list()) {
      r.map(['identifier', 'roles']);
      const idCursor = r.child('identifier');
      const identifier = idCursor.check((f) => resourceField(f, idCursor.string()));
      if (resources.some((x) => x.identifier === identifier)) throw idCursor.error(`resource ${identifier} is listed twice`);
      const rolesCursor = r.child('roles');
      const roleList = rolesCursor.list().map((c) => c.string());
      if (roleList.length === 0) throw rolesCursor.error('needs at least one role');
      resources.push({ identifier, roles: rolesCursor.check((f) => rolesField(f, roleList)) });
    }
    const apps: AppSpec[] = [];
    for (const a of t.child('apps').list()) {
      a.map(['name', 'enabled', 'refuseAssertionReuse', 'certificates', 'roles']);
      const appName = a.child('name');
      const name = appName.check((f) => nameField(f, appName.string()));
      if (apps.some((x) => x.name === name)) throw appName.error(`application "${name}" is listed twice in this tenant`);
      const certificates: CertificateSpec[] = [];
      for (const c of a.child('certificates').list()) {
        c.map(['path', 'pem']);
        const hasPath = c.child('path').present();
        if (hasPath === c.child('pem').present()) throw c.error('needs exactly one of path or pem');
        let pem: string;
        let source: string;
        if (hasPath) {
          const file = c.child('path').string();
          source = path.resolve(baseDir, file);
          try {
            pem = readFileSync(source, 'utf8');
          } catch (err) {
            throw c.child('path').error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
          }
        } else {
          pem = c.child('pem').string();
          source = 'inline';
        }
        if (/PRIVATE KEY/.test(pem)) throw c.child(hasPath ? 'path' : 'pem').error('holds a private key; give the public key or the certificate');
        let keyId: string;
        try {
          keyId = (await parseCredentialPem(pem)).keyId;
        } catch {
          throw c.child(hasPath ? 'path' : 'pem').error('is not a PEM public key or X.509 certificate');
        }
        if (certificates.some((x) => x.keyId === keyId)) throw c.error('is the same key as an earlier certificate of this application');
        certificates.push({ source, pem, keyId });
      }
      const grants: AppSpec['roles'] = [];
      for (const g of a.child('roles').list()) {
        g.map(['resource', 'role']);
        const resCursor = g.child('resource');
        const resource = resCursor.check((f) => resourceField(f, resCursor.string()));
        const roleCursor = g.child('role');
        const role = roleCursor.check((f) => roleField(f, roleCursor.string()));
        const defined = resources.find((r) => r.identifier === resource);
        if (defined === undefined) throw resCursor.error(`resource ${resource} is not defined under this tenant's resources`);
        if (!defined.roles.includes(role)) throw roleCursor.error(`role ${role} is not one of ${resource}'s roles (${defined.roles.join(', ')})`);
        if (grants.some((x) => x.resource === resource && x.role === role)) throw g.error(`role ${role} on ${resource} is listed twice`);
        grants.push({ resource, role });
      }
      const enabled = a.child('enabled').optionalBoolean();
      const refuse = a.child('refuseAssertionReuse').optionalBoolean();
      apps.push({ name, ...(enabled === undefined ? {} : { enabled }), ...(refuse === undefined ? {} : { refuseAssertionReuse: refuse }), certificates, roles: grants });
    }
    const refuse = t.child('refuseAssertionReuse').optionalBoolean();
    tenants.push({ name, ...(refuse === undefined ? {} : { refuseAssertionReuse: refuse }), resources, apps });
  }
  return { tenants };
}
