import type { ParseArgsConfig } from 'node:util';
import type { CliContext } from './context.js';

/** One CLI command: its words, options, one-line usage, and what it does. */
export interface Command {
  /** e.g. ['tenant', 'create'] */
  words: readonly string[];
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Returns the one JSON object printed with --json (and as `key: value` lines without it). */
  /** The command writes its own output (in both modes); main prints nothing more. */
  printsItself?: boolean;
  run(ctx: CliContext): Promise<Record<string, unknown>>;
}
