import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writePrivateFile } from '../token/token-signer.js';

/**
 * Development-mode mesh credentials bound to one mesh member, the bearer-token counterpart of a
 * mesh certificate's SPIFFE id: `amm.<member>.<HMAC-SHA256(key, member)>`, where the key is
 * global's `member-token-key` file. Global recomputes the HMAC, so a token names the member it
 * was issued for and cannot be turned into another member's; only who reads global's data folder
 * (the operator) can issue them.
 */
export const MEMBER_TOKEN_KEY_FILE = 'member-token-key';

const PREFIX = 'amm.';
const MEMBER = /^[a-z][a-z0-9-]{0,62}$/;

function mac(key: string, member: string): Buffer {
  return createHmac('sha256', key).update(`authmesh mesh member\0${member}`).digest();
}

/** The token of mesh member `member` (`regional-eastus`, `backup`, ...) under `key`. */
export function memberToken(key: string, member: string): string {
  if (!MEMBER.test(member)) throw new Error(`"${member}" is not a mesh member name`);
  return `${PREFIX}${member}.${mac(key, member).toString('base64url')}`;
}

/** The member a token was issued for under `key`, or undefined when it is not a genuine member token. */
export function memberOfToken(key: string, token: string): string | undefined {
  if (!token.startsWith(PREFIX)) return undefined;
  const dot = token.lastIndexOf('.');
  const member = token.slice(PREFIX.length, dot);
  if (dot <= PREFIX.length || !MEMBER.test(member)) return undefined;
  const given = Buffer.from(token.slice(dot + 1), 'base64url');
  const expected = mac(key, member);
  return given.length === expected.length && timingSafeEqual(given, expected) ? member : undefined;
}

/**
 * Writes the token of `member` to `<globalDataDir>/members/<member>` (mode 0600) from global's
 * key and returns the file's path: what `make run-mesh` and the tests hand to a regional
 * (`--mesh-token-file`) or to `backup init`. Global must have started once (it creates the key).
 */
export function writeMemberTokenFile(globalDataDir: string, member: string): string {
  const key = readFileSync(path.join(globalDataDir, MEMBER_TOKEN_KEY_FILE), 'utf8').trim();
  const file = path.join(globalDataDir, 'members', member);
  writePrivateFile(file, `${memberToken(key, member)}\n`);
  return file;
}
