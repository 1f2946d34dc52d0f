import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildTraces, isFailoverTrace, renderTrace, type ReceivedSpan } from '../lib/telemetry/index.js';
import { optional, UsageError } from './args.js';
import type { Command } from './command.js';

/** Where `make run-mesh`'s built-in OTLP receiver keeps the most recent traces. */
export const TRACES_FILE = path.join('traces', 'recent.json');

/** `authmesh traces`: the most recent failover traces of the local mesh, as trees. */
export const TRACES_COMMAND: Command = {
  words: ['traces'],
  usage: '[--all] [--limit N] [--file PATH]',
  options: { all: { type: 'boolean' }, limit: { type: 'string' }, file: { type: 'string' } },
  run: async (ctx) => {
    const file = optional(ctx.flags, 'file') ?? path.join(ctx.meshDir, TRACES_FILE);
    const limitText = optional(ctx.flags, 'limit') ?? '5';
    const limit = Number(limitText);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a positive integer, got ${limitText}`);
    if (!existsSync(file)) {
      throw new Error(`no traces at ${file}: \`make run-mesh\` keeps them there when its built-in OTLP receiver runs (nothing else on 127.0.0.1:4318)`);
    }
    const spans = JSON.parse(readFileSync(file, 'utf8')) as ReceivedSpan[];
    const all = buildTraces(spans);
    const chosen = (ctx.flags.all === true ? all : all.filter(isFailoverTrace)).slice(0, limit);
    if (ctx.json) return { file, traces: chosen.map((t) => ({ traceId: t.traceId, failover: isFailoverTrace(t), spans: t.spans })) };
    if (chosen.length === 0) {
      process.stdout.write(`no ${ctx.flags.all === true ? '' : 'failover '}traces among the ${all.length} kept in ${file}\n`);
    }
    for (const t of chosen.reverse()) process.stdout.write(`${renderTrace(t)}\n\n`);
    return {};
  },
};
