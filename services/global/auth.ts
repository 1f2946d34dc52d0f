import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export { BearerCheck, requireBearer } from '../../lib/grpc/index.js';

/**
 * Reads the bearer token kept in `file`, creating it (32 random bytes, base64url, mode 0600) on
 * first start. Creation uses O_EXCL, so two starts racing agree on one token.
 */
export function loadOrCreateBearerToken(file: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    fs.writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const token = fs.readFileSync(file, 'utf8').trim();
  if (token.length < 16) throw new Error(`${file} does not hold a usable token; delete it to generate a new one`);
  return token;
}
