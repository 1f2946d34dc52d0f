import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command-line mistake: printed with usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type Flags = Record<string, string | boolean | undefined>;

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Options every command takes. */
export const COMMON_OPTIONS: OptionsConfig = {
  json: { type: 'boolean' },
  'mesh-dir': { type: 'string' },
  admin: { type: 'string' },
  // The global tier's admin API: one instance or several (host:port,host:port); --admin wins.
  global: { type: 'string' },
  'admin-token': { type: 'string' },
  'admin-token-file': { type: 'string' },
  endpoint: { type: 'string' },
  'gateway-ca': { type: 'string' },
  'gateway-server-name': { type: 'string' },
  'mesh-ca': { type: 'string' },
  'mesh-cert': { type: 'string' },
  'mesh-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

/** Parses `argv` (after the command words) against the command's options plus the common ones. */
export function parseFlags(argv: string[], options: OptionsConfig): Flags {
  try {
    const { values } = parseArgs({ args: argv, options: { ...COMMON_OPTIONS, ...options }, strict: true, allowPositionals: false });
    return values as Flags;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** A required string flag, or a UsageError naming it. */
export function need(flags: Flags, name: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || v.length === 0) throw new UsageError(`--${name} is required`);
  return v;
}

export function optional(flags: Flags, name: string): string | undefined {
  const v = flags[name];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}
