import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { ADMIN_COMMANDS } from './admin-commands.js';
import { BACKUP_COMMANDS } from './backup-commands.js';
import { COMMON_OPTIONS, parseFlags, UsageError } from './args.js';
import type { Command } from './command.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { APPLY_COMMAND } from './apply-command.js';
import { completionCommand } from './completion.js';
import { LIST_DELETE_COMMANDS } from './list-delete-commands.js';
import { CliContext } from './context.js';
import { STATUS_COMMAND } from './status-command.js';
import { TOKEN_COMMANDS } from './token-commands.js';
import { TRACES_COMMAND } from './traces-command.js';

const BASE_COMMANDS: readonly Command[] = [...ADMIN_COMMANDS, ...LIST_DELETE_COMMANDS, APPLY_COMMAND, ...TOKEN_COMMANDS, ...BACKUP_COMMANDS, STATUS_COMMAND, TRACES_COMMAND];
const COMMANDS: readonly Command[] = [...BASE_COMMANDS, completionCommand(() => COMMANDS, COMMON_OPTIONS)];

/** The version in the package.json this CLI ships in (dist/cli/main.js → package.json). */
export function cliVersion(): string {
  return (JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
}

const COMMON =
  '[--json] [--mesh-dir DIR] [--admin|--global HOST:PORT[,HOST:PORT]] [--admin-token-file FILE] [--mesh-ca FILE --mesh-cert FILE --mesh-key FILE] ' +
  '[--endpoint HOST:PORT --gateway-ca FILE --gateway-server-name NAME]';

function usage(): string {
  const lines = COMMANDS.map((c) => `  authmesh ${c.words.join(' ')} ${c.usage}`.trimEnd());
  return `usage:\n  authmesh --version | -V\n${lines.join('\n')}\n\ncommon options: ${COMMON}\n\nexit codes: 0 success (status: healthy); 1 failure (status: degraded, a component unreachable or a breaker not closed); 2 usage error\n`;
}

function find(argv: string[]): { command: Command; rest: string[] } | undefined {
  const matches = COMMANDS.filter((c) => c.words.every((w, i) => argv[i] === w));
  const best = matches.sort((a, b) => b.words.length - a.words.length)[0];
  return best === undefined ? undefined : { command: best, rest: argv.slice(best.words.length) };
}

function printResult(result: Record<string, unknown>, json: boolean): void {
  if (json || Object.keys(result).length === 0) {
    if (!json) return;
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  for (const [key, value] of Object.entries(result)) {
    process.stdout.write(`${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}\n`);
  }
}

function isServiceError(err: unknown): err is ServiceError {
  return typeof err === 'object' && err !== null && 'code' in err && 'metadata' in err;
}

/** One line on stderr: the gRPC status name, the OAuth error code, and the service's message. */
function describeError(err: unknown): string {
  if (isServiceError(err)) {
    const name = grpcStatus[err.code] ?? String(err.code);
    const oauth = err.metadata?.get('oauth-error')[0];
    const reason = err.metadata?.get('authmesh-reason')[0];
    const tags = [name, oauth, reason].filter((t) => t !== undefined).join(' ');
    if (err.code === grpcStatus.UNAVAILABLE && oauth === undefined) {
      return `${err.details || 'service unavailable'} (${tags}): is the mesh running? start it with \`make run-mesh\``;
    }
    return `${err.details} (${tags})`;
  }
  return err instanceof Error ? err.message : String(err);
}

export async function main(given: string[]): Promise<number> {
  // `completion bash` names the shell as a word; the flag parser takes it as --bash.
  const argv = given[0] === 'completion' && (given[1] === 'bash' || given[1] === 'zsh') ? ['completion', `--${given[1]}`, ...given.slice(2)] : given;
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    process.stdout.write(`${cliVersion()}\n`);
    return 0;
  }
  const found = find(argv);
  if (found === undefined) {
    const help = argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h';
    (help ? process.stdout : process.stderr).write(help ? usage() : `authmesh: unknown command "${argv.join(' ')}"\n${usage()}`);
    return help ? 0 : 2;
  }
  try {
    const flags = parseFlags(found.rest, found.command.options);
    if (flags.help === true) {
      process.stdout.write(`usage: authmesh ${found.command.words.join(' ')} ${found.command.usage} ${COMMON}\n`);
      return 0;
    }
    const ctx = new CliContext(flags, process.env);
    const result = await found.command.run(ctx);
    if (found.command.printsItself !== true) printResult(result, ctx.json);
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`authmesh ${found.command.words.join(' ')}: ${err.message}\nusage: authmesh ${found.command.words.join(' ')} ${found.command.usage}\n`);
      return 2;
    }
    process.stderr.write(`authmesh: ${describeError(err)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`authmesh: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
