/**
 * Typed configuration from command-line flags and environment variables, validated once at start.
 * A flag `--listen 127.0.0.1:1` wins over the environment (`AUTHMESH_LISTEN`), which wins over the
 * default. Every problem is collected and reported together, then the process refuses to start.
 */

export type OptionType = 'string' | 'int' | 'bool' | 'duration' | 'list';

export interface OptionSpec {
  /** Flag name without dashes, e.g. `listen`. The env name is AUTHMESH_ + upper snake case. */
  type: OptionType;
  /** What the option is for, shown in errors and `--help`. */
  describe: string;
  /** Default value as it would be written on the command line; omit for a required option. */
  default?: string;
  /** Extra check on the parsed value; return an error message or undefined. */
  check?: (value: unknown) => string | undefined;
  /** Env variable to read instead of the derived AUTHMESH_ name. */
  env?: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

type ValueOf<T extends OptionType> = T extends 'string'
  ? string
  : T extends 'int'
    ? number
    : T extends 'bool'
      ? boolean
      : T extends 'duration'
        ? number
        : string[];

/** The parsed, frozen config for a spec. Durations are in milliseconds. */
export type ConfigOf<S extends OptionSpecs> = { readonly [K in keyof S]: ValueOf<S[K]['type']> };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

export const envName = (flag: string): string => `AUTHMESH_${flag.replace(/-/g, '_').toUpperCase()}`;

const DURATION = /^(\d+)(ms|s|m|h|d)?$/;
const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `250ms`, `30s`, `5m`, `1h`, `3d`; a bare number is milliseconds. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (m === null) return undefined;
  return Number(m[1]) * DURATION_UNIT_MS[m[2] ?? 'ms']!;
}

function convert(type: OptionType, raw: string): { value?: unknown; error?: string } {
  switch (type) {
    case 'string':
      return { value: raw };
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) return { error: `expected an integer, got "${raw}"` };
      const n = Number(raw);
      return Number.isSafeInteger(n) ? { value: n } : { error: `integer out of range: "${raw}"` };
    }
    case 'bool': {
      const t = raw.trim().toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(t)) return { value: true };
      if (['0', 'false', 'no', 'off', ''].includes(t)) return { value: false };
      return { error: `expected true or false, got "${raw}"` };
    }
    case 'duration': {
      const ms = parseDuration(raw);
      return ms === undefined ? { error: `expected a duration like 500ms, 30s, 5m, 1h, got "${raw}"` } : { value: ms };
    }
    case 'list':
      return { value: raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0) };
  }
}

/** Splits argv into `--name value` / `--name=value` / `--flag` pairs. */
function readFlags(argv: readonly string[], specs: OptionSpecs, problems: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      problems.push(`unexpected argument "${arg}"`);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const spec = specs[name];
    if (spec === undefined) {
      problems.push(`unknown flag --${name}`);
      continue;
    }
    if (eq !== -1) flags.set(name, arg.slice(eq + 1));
    else if (spec.type === 'bool' && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--'))) flags.set(name, 'true');
    else if (argv[i + 1] === undefined) problems.push(`flag --${name} needs a value`);
    else {
      flags.set(name, argv[i + 1]!);
      i += 1;
    }
  }
  return flags;
}

/** Parses and validates; throws {@link ConfigError} listing every problem. */
export function parseConfig<S extends OptionSpecs>(
  specs: S,
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ConfigOf<S> {
  const problems: string[] = [];
  const flags = readFlags(argv, specs, problems);
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const envKey = spec.env ?? envName(name);
    const raw = flags.get(name) ?? env[envKey] ?? spec.default;
    if (raw === undefined) {
      problems.push(`--${name} (or ${envKey}) is required: ${spec.describe}`);
      continue;
    }
    const { value, error } = convert(spec.type, raw);
    if (error !== undefined) {
      problems.push(`--${name} (${envKey}): ${error}`);
      continue;
    }
    const checkError = spec.check?.(value);
    if (checkError !== undefined) {
      problems.push(`--${name} (${envKey}): ${checkError}`);
      continue;
    }
    out[name] = value;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as ConfigOf<S>;
}

/** Describes every option, for `--help`. */
export function describeOptions(specs: OptionSpecs): string {
  return Object.entries(specs)
    .map(([name, s]) => `  --${name} (${s.env ?? envName(name)})  ${s.describe}${s.default === undefined ? ' [required]' : ` [default: ${s.default}]`}`)
    .join('\n');
}
