import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export { BearerCheck, requireBearer } from '../../lib/grpc/index.js';

/** Prefix of the bearer tokens global creates: a token never starts with `-`, which a command line would take for a flag. */
export const BEARER_TOKEN_PREFIX = 'amt_';

/**
 * Reads the bearer token kept in `file`, creating it (`amt_` and 32 random bytes in base64url,
 * mode 0600) on first start. Creation uses O_EXCL, so two starts racing agree on one token. A
 * token already in the file is used as it is.
 */
export function loadOrCreateBearerToken(file: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    fs.writeFileSync(file, `${BEARER_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const token = fs.readFileSync(file, 'utf8').trim();
  if (token.length < 16) throw new Error(`${file} does not hold a usable token; delete it to generate a new one`);
  return token;
}
