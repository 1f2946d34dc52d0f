import { readFileSync } from 'node:fs';
import { Metadata } from '@grpc/grpc-js';
import type { AcquireTokenResponse, GetJwksResponse } from '../gen/authmesh/token/v1/token.js';
import { unary } from '../lib/grpc/index.js';
import { ASSERTION_TYPE, DEFAULT_ISSUER, buildAssertion } from '../lib/token/index.js';
import { need, optional, UsageError } from './args.js';
import { readSecretFile } from './context.js';
import type { Command } from './command.js';

const s = { type: 'string' } as const;

export const TOKEN_COMMANDS: readonly Command[] = [
  {
    words: ['token'],
    usage:
      '--tenant T --client C (--key FILE.pem | --secret-file FILE | env AUTHMESH_CLIENT_SECRET) --scope URI/.default ' +
      '[--endpoint HOST:PORT] [--gateway-ca FILE] [--gateway-server-name NAME] [--issuer URL]',
    options: { tenant: s, client: s, key: s, secret: s, 'secret-file': s, scope: s, issuer: s },
    run: async (ctx) => {
      const tenantId = need(ctx.flags, 'tenant');
      const clientId = need(ctx.flags, 'client');
      const scope = need(ctx.flags, 'scope');
      const keyFile = optional(ctx.flags, 'key');
      const secretFile = optional(ctx.flags, 'secret-file');
      const flagged = optional(ctx.flags, 'secret');
      if (flagged !== undefined) ctx.warn('--secret puts the client secret on the command line, where other users of this host can read it; use --secret-file or AUTHMESH_CLIENT_SECRET');
      const env = process.env.AUTHMESH_CLIENT_SECRET;
      const secret = flagged ?? (secretFile === undefined ? undefined : readSecretFile(secretFile, 'client secret')) ?? (env === '' ? undefined : env);
      if ((keyFile === undefined) === (secret === undefined)) throw new UsageError('give exactly one of --key FILE.pem and --secret-file FILE (or AUTHMESH_CLIENT_SECRET)');
      let clientAssertion = '';
      if (keyFile !== undefined) {
        let pem: string;
        try {
          pem = readFileSync(keyFile, 'utf8');
        } catch {
          throw new UsageError(`cannot read ${keyFile}`);
        }
        const issuer = optional(ctx.flags, 'issuer') ?? process.env.AUTHMESH_ISSUER ?? DEFAULT_ISSUER;
        ({ assertion: clientAssertion } = await buildAssertion({ tenantId, clientId, issuer, privateKey: pem }));
      }
      const client = ctx.tokenClient();
      let trailers = new Metadata();
      try {
        const res = await unary<AcquireTokenResponse>((m, o, cb) => {
          const call = client.acquireToken(
            { tenantId, clientId, scope, clientAssertion, clientAssertionType: clientAssertion === '' ? '' : ASSERTION_TYPE, clientSecret: secret ?? '' },
            m,
            o,
            cb,
          );
          call.on('status', (st) => (trailers = st.metadata));
          return call;
        });
        const dataAge = trailers.get('authmesh-data-age-ms')[0];
        return { ...res, ...(dataAge === undefined ? {} : { dataAgeMs: Number(dataAge) }) };
      } finally {
        client.close();
      }
    },
  },
  {
    words: ['jwks'],
    usage: '--tenant T [--endpoint HOST:PORT] [--gateway-ca FILE] [--gateway-server-name NAME]',
    options: { tenant: s },
    run: async (ctx) => {
      const client = ctx.tokenClient();
      try {
        const res = await unary<GetJwksResponse>((m, o, cb) => client.getJwks({ tenantId: need(ctx.flags, 'tenant') }, m, o, cb));
        return JSON.parse(res.jwksJson) as Record<string, unknown>;
      } finally {
        client.close();
      }
    },
  },
];
