import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { AppInfo, GetAppResponse, ResourceInfo, TenantInfo } from '../gen/authmesh/admin/v1/admin.js';
import { admin } from './admin-commands.js';
import { need, UsageError } from './args.js';
import { describeAction, planApply, PlanConflict, type Action, type CurrentApp, type CurrentTenant } from './apply-plan.js';
import type { Command } from './command.js';
import type { CliContext } from './context.js';
import { IdentitiesFileError, parseIdentities, type IdentitiesSpec } from './identities-file.js';

/** Reads what the directory holds for the tenants and applications the file names. */
async function currentState(ctx: CliContext, spec: IdentitiesSpec): Promise<CurrentTenant[]> {
  const { tenants } = await admin<{ tenants: TenantInfo[] }>(ctx, (c) => (m, o, cb) => c.listTenants({}, m, o, cb));
  const out: CurrentTenant[] = [];
  for (const t of tenants) {
    const wanted = spec.tenants.find((s) => s.name === t.name);
    if (wanted === undefined) continue;
    const tenantId = t.tenantId;
    const { resources } = await admin<{ resources: ResourceInfo[] }>(ctx, (c) => (m, o, cb) => c.listResources({ tenantId }, m, o, cb));
    const { apps } = await admin<{ apps: AppInfo[] }>(ctx, (c) => (m, o, cb) => c.listApps({ tenantId }, m, o, cb));
    const current: CurrentApp[] = [];
    for (const a of apps.filter((x) => wanted.apps.some((w) => w.name === x.name))) {
      const shown = await admin<GetAppResponse>(ctx, (c) => (m, o, cb) => c.getApp({ tenantId, clientId: a.clientId }, m, o, cb));
      current.push({
        clientId: a.clientId,
        name: a.name,
        enabled: shown.enabled,
        refuseAssertionReuse: shown.refuseAssertionReuse,
        keyIds: shown.credentials.map((k) => k.keyId),
        grants: shown.grants,
      });
    }
    out.push({ tenantId, name: t.name, refuseAssertionReuse: t.refuseAssertionReuse, resources, apps: current });
  }
  return out;
}

/** Runs the plan in order, resolving tenant and application names to ids as they are created. */
async function execute(ctx: CliContext, actions: readonly Action[], current: readonly CurrentTenant[]): Promise<void> {
  const tenantIds = new Map(current.map((t) => [t.name, t.tenantId]));
  const clientIds = new Map(current.flatMap((t) => t.apps.map((a) => [`${t.name}\n${a.name}`, a.clientId] as const)));
  const tenantOf = (name: string): string => tenantIds.get(name)!;
  const appOf = (tenant: string, app: string): { tenantId: string; clientId: string } => ({ tenantId: tenantOf(tenant), clientId: clientIds.get(`${tenant}\n${app}`)! });
  for (const a of actions) {
    switch (a.kind) {
      case 'create-tenant': {
        const req = { name: a.tenant, refuseAssertionReuse: a.refuseAssertionReuse };
        const res = await admin<{ tenantId: string }>(ctx, (c) => (m, o, cb) => c.createTenant(req, m, o, cb));
        tenantIds.set(a.tenant, res.tenantId);
        break;
      }
      case 'set-tenant-reuse': {
        const req = { tenantId: tenantOf(a.tenant), refuseAssertionReuse: a.refuseAssertionReuse };
        await admin(ctx, (c) => (m, o, cb) => c.setTenantAssertionReuse(req, m, o, cb));
        break;
      }
      case 'create-resource': {
        const req = { tenantId: tenantOf(a.tenant), identifier: a.identifier, roles: a.roles };
        await admin(ctx, (c) => (m, o, cb) => c.createResource(req, m, o, cb));
        break;
      }
      case 'create-app': {
        const req = { tenantId: tenantOf(a.tenant), name: a.app, refuseAssertionReuse: a.refuseAssertionReuse };
        const res = await admin<{ clientId: string }>(ctx, (c) => (m, o, cb) => c.createApp(req, m, o, cb));
        clientIds.set(`${a.tenant}\n${a.app}`, res.clientId);
        break;
      }
      case 'set-app-enabled': {
        const req = { ...appOf(a.tenant, a.app), enabled: a.enabled };
        await admin(ctx, (c) => (m, o, cb) => c.setAppEnabled(req, m, o, cb));
        break;
      }
      case 'set-app-reuse': {
        const req = { ...appOf(a.tenant, a.app), refuseAssertionReuse: a.refuseAssertionReuse };
        await admin(ctx, (c) => (m, o, cb) => c.setAppAssertionReuse(req, m, o, cb));
        break;
      }
      case 'add-certificate': {
        const req = { ...appOf(a.tenant, a.app), pem: a.pem, notBefore: 0, notAfter: 0 };
        await admin(ctx, (c) => (m, o, cb) => c.addCertificateCredential(req, m, o, cb));
        break;
      }
      case 'grant-role': {
        const req = { ...appOf(a.tenant, a.app), resource: a.resource, role: a.role };
        await admin(ctx, (c) => (m, o, cb) => c.grantRole(req, m, o, cb));
        break;
      }
    }
    if (!ctx.json) process.stdout.write(`${describeAction(a)}\n`);
  }
}

/**
 * `authmesh apply -f identities.yaml [--dry-run]`: creates what the file names and the directory
 * lacks, prints each change, and says so when there is nothing to change.
 */
export const APPLY_COMMAND: Command = {
  words: ['apply'],
  usage: '-f FILE.yaml [--dry-run]',
  options: { file: { type: 'string', short: 'f' }, 'dry-run': { type: 'boolean' } },
  printsItself: true,
  run: async (ctx) => {
    const file = need(ctx.flags, 'file');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    let spec: IdentitiesSpec;
    try {
      spec = await parseIdentities(text, path.dirname(path.resolve(file)));
    } catch (err) {
      if (err instanceof IdentitiesFileError) throw new UsageError(`${file}: ${err.message}`);
      throw err;
    }
    const current = await currentState(ctx, spec);
    let actions: Action[];
    try {
      actions = planApply(spec, current);
    } catch (err) {
      if (err instanceof PlanConflict) throw new UsageError(`${file}: ${err.message}`);
      throw err;
    }
    const dryRun = ctx.flags['dry-run'] === true;
    const lines = actions.map(describeAction);
    if (dryRun || actions.length === 0) {
      if (ctx.json) process.stdout.write(`${JSON.stringify({ dryRun, changed: false, plan: lines })}\n`);
      else if (actions.length === 0) process.stdout.write('no changes: the directory already matches the file\n');
      else process.stdout.write(`plan (dry run, nothing written):\n${lines.map((l) => `  ${l}`).join('\n')}\n${actions.length} change(s)\n`);
      return {};
    }
    await execute(ctx, actions, current);
    if (ctx.json) process.stdout.write(`${JSON.stringify({ dryRun: false, changed: true, applied: lines })}\n`);
    else process.stdout.write(`${actions.length} change(s) applied\n`);
    return {};
  },
};
