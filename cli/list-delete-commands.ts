import type { AppInfo, GetAppResponse, ResourceInfo } from '../gen/authmesh/admin/v1/admin.js';
import { admin } from './admin-commands.js';
import { need } from './args.js';
import type { Command } from './command.js';

const s = { type: 'string' } as const;

/** `list` and `delete` for applications, resources and credentials. None of them shows a secret. */
export const LIST_DELETE_COMMANDS: readonly Command[] = [
  {
    words: ['app', 'list'],
    usage: '--tenant T',
    options: { tenant: s },
    run: async (ctx) => {
      const res = await admin<{ apps: AppInfo[] }>(ctx, (c) => (m, o, cb) => c.listApps({ tenantId: need(ctx.flags, 'tenant') }, m, o, cb));
      return { apps: res.apps };
    },
  },
  {
    words: ['app', 'delete'],
    usage: '--tenant T --client C',
    options: { tenant: s, client: s },
    run: async (ctx) => {
      const req = { tenantId: need(ctx.flags, 'tenant'), clientId: need(ctx.flags, 'client') };
      const res = await admin<{ revision: number }>(ctx, (c) => (m, o, cb) => c.deleteApp(req, m, o, cb));
      return { clientId: req.clientId, deleted: true, revision: res.revision };
    },
  },
  {
    words: ['resource', 'list'],
    usage: '--tenant T',
    options: { tenant: s },
    run: async (ctx) => {
      const res = await admin<{ resources: ResourceInfo[] }>(ctx, (c) => (m, o, cb) => c.listResources({ tenantId: need(ctx.flags, 'tenant') }, m, o, cb));
      return { resources: res.resources };
    },
  },
  {
    words: ['resource', 'delete'],
    usage: '--tenant T --identifier URI',
    options: { tenant: s, identifier: s },
    run: async (ctx) => {
      const req = { tenantId: need(ctx.flags, 'tenant'), identifier: need(ctx.flags, 'identifier') };
      const res = await admin<{ revision: number }>(ctx, (c) => (m, o, cb) => c.deleteResource(req, m, o, cb));
      return { identifier: req.identifier, deleted: true, revision: res.revision };
    },
  },
  {
    words: ['cred', 'list'],
    usage: '--tenant T --client C',
    options: { tenant: s, client: s },
    run: async (ctx) => {
      const req = { tenantId: need(ctx.flags, 'tenant'), clientId: need(ctx.flags, 'client') };
      const res = await admin<GetAppResponse>(ctx, (c) => (m, o, cb) => c.getApp(req, m, o, cb));
      // Key ids, kinds and validity only: a secret is never stored, a public key is not needed here.
      return { clientId: res.clientId, credentials: res.credentials.map((k) => ({ keyId: k.keyId, kind: k.kind, notBefore: k.notBefore, notAfter: k.notAfter })) };
    },
  },
  {
    words: ['cred', 'delete'],
    usage: '--tenant T --client C --key-id K',
    options: { tenant: s, client: s, 'key-id': s },
    run: async (ctx) => {
      const req = { tenantId: need(ctx.flags, 'tenant'), clientId: need(ctx.flags, 'client'), keyId: need(ctx.flags, 'key-id') };
      const res = await admin<{ revision: number }>(ctx, (c) => (m, o, cb) => c.removeCredential(req, m, o, cb));
      return { keyId: req.keyId, deleted: true, revision: res.revision };
    },
  },
];
