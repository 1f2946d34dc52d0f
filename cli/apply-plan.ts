import type { IdentitiesSpec } from './identities-file.js';

/** What the directory holds now, for the tenants and applications an identities file names. */
export interface CurrentApp {
  clientId: string;
  name: string;
  enabled: boolean;
  refuseAssertionReuse: boolean;
  keyIds: string[];
  /** `<resource>#<role>` */
  grants: string[];
}

export interface CurrentTenant {
  tenantId: string;
  name: string;
  refuseAssertionReuse: boolean;
  resources: { identifier: string; roles: string[] }[];
  apps: CurrentApp[];
}

/** One change `apply` makes. Tenants and applications are named; their ids are resolved when it runs. */
export type Action =
  | { kind: 'create-tenant'; tenant: string; refuseAssertionReuse: boolean }
  | { kind: 'set-tenant-reuse'; tenant: string; refuseAssertionReuse: boolean }
  | { kind: 'create-resource'; tenant: string; identifier: string; roles: string[] }
  | { kind: 'create-app'; tenant: string; app: string; refuseAssertionReuse: boolean }
  | { kind: 'set-app-enabled'; tenant: string; app: string; enabled: boolean }
  | { kind: 'set-app-reuse'; tenant: string; app: string; refuseAssertionReuse: boolean }
  | { kind: 'add-certificate'; tenant: string; app: string; keyId: string; source: string; pem: string }
  | { kind: 'grant-role'; tenant: string; app: string; resource: string; role: string };

/** The file asks for something apply does not change in place (a resource's roles). */
export class PlanConflict extends Error {
  override readonly name = 'PlanConflict';
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x) => b.includes(x));

/**
 * The changes that bring the directory to what the file says. Additive: what the file does not
 * mention is left alone (use `delete` or `role revoke` for that). Empty when nothing differs.
 */
export function planApply(spec: IdentitiesSpec, current: readonly CurrentTenant[]): Action[] {
  const actions: Action[] = [];
  spec.tenants.forEach((t, ti) => {
    const have = current.find((c) => c.name === t.name);
    if (have === undefined) actions.push({ kind: 'create-tenant', tenant: t.name, refuseAssertionReuse: t.refuseAssertionReuse === true });
    else if (t.refuseAssertionReuse !== undefined && t.refuseAssertionReuse !== have.refuseAssertionReuse) {
      actions.push({ kind: 'set-tenant-reuse', tenant: t.name, refuseAssertionReuse: t.refuseAssertionReuse });
    }
    t.resources.forEach((r, ri) => {
      const existing = have?.resources.find((x) => x.identifier === r.identifier);
      if (existing === undefined) actions.push({ kind: 'create-resource', tenant: t.name, identifier: r.identifier, roles: r.roles });
      else if (!sameSet(existing.roles, r.roles)) {
        throw new PlanConflict(
          `tenants[${ti}].resources[${ri}].roles: resource ${r.identifier} exists with roles ${existing.roles.join(', ')}; apply does not change a resource's roles (delete and recreate it)`,
        );
      }
    });
    for (const a of t.apps) {
      const app = have?.apps.find((x) => x.name === a.name);
      if (app === undefined) {
        actions.push({ kind: 'create-app', tenant: t.name, app: a.name, refuseAssertionReuse: a.refuseAssertionReuse === true });
        if (a.enabled === false) actions.push({ kind: 'set-app-enabled', tenant: t.name, app: a.name, enabled: false });
      } else {
        if (a.enabled !== undefined && a.enabled !== app.enabled) actions.push({ kind: 'set-app-enabled', tenant: t.name, app: a.name, enabled: a.enabled });
        if (a.refuseAssertionReuse !== undefined && a.refuseAssertionReuse !== app.refuseAssertionReuse) {
          actions.push({ kind: 'set-app-reuse', tenant: t.name, app: a.name, refuseAssertionReuse: a.refuseAssertionReuse });
        }
      }
      for (const c of a.certificates) {
        if (!(app?.keyIds ?? []).includes(c.keyId)) actions.push({ kind: 'add-certificate', tenant: t.name, app: a.name, keyId: c.keyId, source: c.source, pem: c.pem });
      }
      for (const g of a.roles) {
        if (!(app?.grants ?? []).includes(`${g.resource}#${g.role}`)) actions.push({ kind: 'grant-role', tenant: t.name, app: a.name, resource: g.resource, role: g.role });
      }
    }
  });
  return actions;
}

/** One line per change; never a PEM's content. */
export function describeAction(a: Action): string {
  const inTenant = `in tenant "${a.tenant}"`;
  switch (a.kind) {
    case 'create-tenant':
      return `create tenant "${a.tenant}"${a.refuseAssertionReuse ? ' (refuses assertion reuse)' : ''}`;
    case 'set-tenant-reuse':
      return `set tenant "${a.tenant}" to ${a.refuseAssertionReuse ? 'refuse' : 'allow'} assertion reuse`;
    case 'create-resource':
      return `create resource ${a.identifier} with roles ${a.roles.join(', ')} ${inTenant}`;
    case 'create-app':
      return `create app "${a.app}" ${inTenant}${a.refuseAssertionReuse ? ' (refuses assertion reuse)' : ''}`;
    case 'set-app-enabled':
      return `${a.enabled ? 'enable' : 'disable'} app "${a.app}" ${inTenant}`;
    case 'set-app-reuse':
      return `set app "${a.app}" ${inTenant} to ${a.refuseAssertionReuse ? 'refuse' : 'allow'} assertion reuse`;
    case 'add-certificate':
      return `add certificate ${a.keyId} (${a.source}) to app "${a.app}" ${inTenant}`;
    case 'grant-role':
      return `grant ${a.role} on ${a.resource} to app "${a.app}" ${inTenant}`;
  }
}
