import { readFileSync, writeFileSync } from 'node:fs';
import { unary } from '../lib/grpc/index.js';
import { need, optional, UsageError } from './args.js';
import type { Command } from './command.js';
import type { CliContext } from './context.js';

const s = { type: 'string' } as const;

function readPem(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`cannot read ${file}`);
  }
}

function roles(text: string): string[] {
  const list = text.split(',').map((r) => r.trim()).filter((r) => r.length > 0);
  if (list.length === 0) throw new UsageError('--roles needs at least one role, e.g. Blob.Read,Blob.Write');
  return list;
}

/** Calls one AdminService method with the admin token. */
export async function admin<Res>(ctx: CliContext, call: (client: ReturnType<CliContext['admin']>['client'], md: ReturnType<CliContext['admin']>['metadata']) => (m: never, o: never, cb: never) => unknown): Promise<Res> {
  const { client, metadata } = ctx.admin();
  try {
    return await unary<Res>(call(client, metadata) as never, { metadata });
  } finally {
    client.close();
  }
}

const setEnabled = (enabled: boolean): Command => ({
  words: ['app', enabled ? 'enable' : 'disable'],
  usage: `--tenant T --client C`,
  options: { tenant: s, client: s },
  run: async (ctx) => {
    const req = { tenantId: need(ctx.flags, 'tenant'), clientId: need(ctx.flags, 'client'), enabled };
    const res = await admin<{ revision: number }>(ctx, (c) => (m, o, cb) => c.setAppEnabled(req, m, o, cb));
    return { clientId: req.clientId, enabled, revision: res.revision };
  },
});

const b = { type: 'boolean' } as const;

/** `app refuse-reuse` / `app allow-reuse`: per-jti replay refusal of client assertions for one app. */
const appReuse = (refuse: boolean): Command => ({
  words: ['app', refuse ? 'refuse-reuse' : 'allow-reuse'],
  usage: '--tenant T --client C',
  options: { tenant: s, client: s },
  run: async (ctx) => {
    const req = { tenantId: need(ctx.flags, 'tenant'), clientId: need(ctx.flags, 'client'), refuseAssertionReuse: refuse };
    const res = await admin<{ revision: number }>(ctx, (c) => (m, o, cb) => c.setAppAssertionReuse(req, m, o, cb));
    return { clientId: req.clientId, refuseAssertionReuse: refuse, revision: res.revision };
  },
});

/** `tenant refuse-reuse` / `tenant allow-reuse`: the same for every app of a tenant. */
const tenantReuse = (refuse: boolean): Command => ({
  words: ['tenant', refuse ? 'refuse-reuse' : 'allow-reuse'],
  usage: '--tenant T',
  options: { tenant: s },
  run: async (ctx) => {
    const req = { tenantId: need(ctx.flags, 'tenant'), refuseAssertionReuse: refuse };
    const res = await admin<{ revision: number }>(ctx, (c) => (m, o, cb) => c.setTenantAssertionReuse(req, m, o, cb));
    return { tenantId: req.tenantId, refuseAssertionReuse: refuse, revision: res.revision };
  },
});

const role = (grant: boolean): Command => ({
  words: ['role', grant ? 'grant' : 'revoke'],
  usage: '--tenant T --client C --resource URI --role R',
  options: { tenant: s, client: s, resource: s, role: s },
  run: async (ctx) => {
    const req = { tenantId: need(ctx.flags, 'tenant'), clientId: need(ctx.flags, 'client'), resource: need(ctx.flags, 'resource'), role: need(ctx.flags, 'role') };
    const res = await admin<{ revision: number }>(ctx, (c) => (m, o, cb) => (grant ? c.grantRole(req, m, o, cb) : c.revokeRole(req, m, o, cb)));
    return { ...req, granted: grant, revision: res.revision };
  },
});

export const ADMIN_COMMANDS: readonly Command[] = [
  {
    words: ['tenant', 'create'],
    usage: '--name N [--refuse-assertion-reuse]',
    options: { name: s, 'refuse-assertion-reuse': b },
    run: async (ctx) => {
      const req = { name: need(ctx.flags, 'name'), refuseAssertionReuse: ctx.flags['refuse-assertion-reuse'] === true };
      return admin(ctx, (c) => (m, o, cb) => c.createTenant(req, m, o, cb));
    },
  },
  {
    words: ['tenant', 'list'],
    usage: '',
    options: {},
    run: async (ctx) => admin(ctx, (c) => (m, o, cb) => c.listTenants({}, m, o, cb)),
  },
  {
    words: ['app', 'create'],
    usage: '--tenant T --name N [--refuse-assertion-reuse]',
    options: { tenant: s, name: s, 'refuse-assertion-reuse': b },
    run: async (ctx) => {
      const req = { tenantId: need(ctx.flags, 'tenant'), name: need(ctx.flags, 'name'), refuseAssertionReuse: ctx.flags['refuse-assertion-reuse'] === true };
      return admin(ctx, (c) => (m, o, cb) => c.createApp(req, m, o, cb));
    },
  },
  {
    words: ['app', 'show'],
    usage: '--tenant T --client C',
    options: { tenant: s, client: s },
    run: async (ctx) => {
      const req = { tenantId: need(ctx.flags, 'tenant'), clientId: need(ctx.flags, 'client') };
      return admin(ctx, (c) => (m, o, cb) => c.getApp(req, m, o, cb));
    },
  },
  setEnabled(false),
  setEnabled(true),
  appReuse(true),
  appReuse(false),
  tenantReuse(true),
  tenantReuse(false),
  {
    words: ['cred', 'add-cert'],
    usage: '--tenant T --client C --public-key FILE.pem',
    options: { tenant: s, client: s, 'public-key': s },
    run: async (ctx) => {
      const req = { tenantId: need(ctx.flags, 'tenant'), clientId: need(ctx.flags, 'client'), pem: readPem(need(ctx.flags, 'public-key')), notBefore: 0, notAfter: 0 };
      return admin(ctx, (c) => (m, o, cb) => c.addCertificateCredential(req, m, o, cb));
    },
  },
  {
    words: ['cred', 'add-secret'],
    usage: '--tenant T --client C [--lifetime-seconds N]',
    options: { tenant: s, client: s, 'lifetime-seconds': s },
    run: async (ctx) => {
      const lifetime = Number(optional(ctx.flags, 'lifetime-seconds') ?? '0');
      if (!Number.isSafeInteger(lifetime) || lifetime < 0) throw new UsageError('--lifetime-seconds must be a whole number');
      const req = { tenantId: need(ctx.flags, 'tenant'), clientId: need(ctx.flags, 'client'), lifetimeSeconds: lifetime };
      return admin(ctx, (c) => (m, o, cb) => c.addSecretCredential(req, m, o, cb));
    },
  },
  {
    words: ['cred', 'remove'],
    usage: '--tenant T --client C --key-id K',
    options: { tenant: s, client: s, 'key-id': s },
    run: async (ctx) => {
      const req = { tenantId: need(ctx.flags, 'tenant'), clientId: need(ctx.flags, 'client'), keyId: need(ctx.flags, 'key-id') };
      return admin(ctx, (c) => (m, o, cb) => c.removeCredential(req, m, o, cb));
    },
  },
  {
    words: ['resource', 'create'],
    usage: '--tenant T --identifier URI --roles A,B',
    options: { tenant: s, identifier: s, roles: s },
    run: async (ctx) => {
      const req = { tenantId: need(ctx.flags, 'tenant'), identifier: need(ctx.flags, 'identifier'), roles: roles(need(ctx.flags, 'roles')) };
      const res = await admin<{ revision: number }>(ctx, (c) => (m, o, cb) => c.createResource(req, m, o, cb));
      return { identifier: req.identifier, roles: req.roles, revision: res.revision };
    },
  },
  {
    words: ['host-token', 'create'],
    usage: '--tenant T --client C --out FILE [--lifetime-seconds N]',
    options: { tenant: s, client: s, out: s, 'lifetime-seconds': s },
    // The token goes to a new file (mode 0600) for the identity agent's --admin-token-file, never to stdout.
    run: async (ctx) => {
      const lifetime = Number(optional(ctx.flags, 'lifetime-seconds') ?? '0');
      if (!Number.isSafeInteger(lifetime) || lifetime < 0) throw new UsageError('--lifetime-seconds must be a whole number');
      const out = need(ctx.flags, 'out');
      const req = { tenantId: need(ctx.flags, 'tenant'), clientId: need(ctx.flags, 'client'), lifetimeSeconds: lifetime };
      const res = await admin<{ token: string; expiresAt: number }>(ctx, (c) => (m, o, cb) => c.createHostToken(req, m, o, cb));
      try {
        writeFileSync(out, `${res.token}\n`, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        throw new UsageError(`cannot write the host token to ${out}: ${(err as NodeJS.ErrnoException).code ?? 'error'} (the file must not exist yet)`);
      }
      return { tenantId: req.tenantId, clientId: req.clientId, expiresAt: res.expiresAt, file: out };
    },
  },
  role(true),
  role(false),
  {
    words: ['log', 'compact'],
    usage: '--retain N',
    options: { retain: s },
    run: async (ctx) => {
      const retain = Number(need(ctx.flags, 'retain'));
      if (!Number.isSafeInteger(retain) || retain < 0) throw new UsageError('--retain must be a whole number');
      return admin(ctx, (c) => (m, o, cb) => c.compactChangeLog({ retain }, m, o, cb));
    },
  },
];
