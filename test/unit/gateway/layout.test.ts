import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** The gateway's sources (not dist/): this file runs from dist/test/unit/gateway. */
const GATEWAY = path.resolve(__dirname, '..', '..', '..', '..', 'gateway');
const MAX_FILE_LINES = 300;
const MAX_FUNCTION_LINES = 80;
const ROOMS = ['front', 'routing', 'transport'] as const;
type Room = (typeof ROOMS)[number];

/**
 * The modules of a room that make up one front or one transport; `shared` may be imported by any
 * module of its room, and a module may import the modules of its own group.
 */
const GROUPS: Record<'front' | 'transport', Record<string, (file: string) => boolean>> = {
  front: {
    grpc: (f) => f.startsWith('grpc-front'),
    https: (f) => f.startsWith('http-'),
    inner: (f) => f === 'server.ts',
    shared: (f) => f === 'request-metrics.ts',
  },
  transport: {
    relay: (f) => f === 'relay.ts' || f.startsWith('relay-'),
    'grpc-js': (f) => f === 'grpc-js.ts',
    shared: (f) => f === 'domain-call-span.ts',
  },
};
/** The one routing module a front may import, and the one a transport may. */
const FORWARDER = 'routing/forwarder.ts';
const TOKEN_BACKEND = 'routing/token-backend.ts';
/** Root files the rooms may import: the description of the service passed through. */
const SHARED_ROOT = new Set(['pass-through.ts']);

/** Every .ts file under gateway/, relative to it (`front/grpc-front.ts`, `gateway.ts`). */
function gatewayFiles(dir = GATEWAY): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return gatewayFiles(path.join(dir, e.name)).map((f) => `${e.name}/${f}`);
    return e.name.endsWith('.ts') ? [e.name] : [];
  });
}

/** A function whose body runs from one line to another, named for the report. */
interface MeasuredFunction {
  name: string;
  line: number;
  lines: number;
}

/** Every function declaration, method, accessor, constructor, arrow function and function expression of `source`, with its length in lines. */
function measureFunctions(fileName: string, source: string): MeasuredFunction[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: MeasuredFunction[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const name = node.name !== undefined && ts.isIdentifier(node.name) ? node.name.text : ts.SyntaxKind[node.kind];
      found.push({ name, line: start + 1, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** The gateway-relative paths (`routing/forwarder.ts`) of the gateway modules `source` imports or re-exports. */
function gatewayImports(file: string, source: string): string[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  for (const s of sf.statements) {
    const spec = (ts.isImportDeclaration(s) || ts.isExportDeclaration(s)) && s.moduleSpecifier !== undefined && ts.isStringLiteral(s.moduleSpecifier) ? s.moduleSpecifier.text : undefined;
    if (spec === undefined || !spec.startsWith('.')) continue;
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec.replace(/\.js$/, '.ts')));
    if (!target.startsWith('../')) out.push(target);
  }
  return out;
}

function roomOf(file: string): Room | undefined {
  const first = file.split('/')[0];
  return ROOMS.find((r) => r === first);
}

function groupOf(room: 'front' | 'transport', file: string): string {
  const base = path.posix.basename(file);
  return Object.entries(GROUPS[room]).find(([, is]) => is(base))?.[0] ?? `unknown module ${base}`;
}

/** Why `file` may not import `target`, or undefined when it may. */
function importRuleBroken(file: string, target: string): string | undefined {
  const from = roomOf(file);
  const to = roomOf(target);
  if (from === undefined) return undefined; // main, config and the composition root see everything
  if (to === undefined) return SHARED_ROOT.has(target) ? undefined : `${file} imports ${target} from the gateway's root`;
  if (from === 'front') {
    if (to === 'transport') return `front ${file} imports transport ${target}`;
    if (to === 'routing' && target !== FORWARDER) return `front ${file} imports ${target}: fronts reach routing only through ${FORWARDER}`;
  }
  if (from === 'routing' && to !== 'routing') return `routing ${file} imports ${to} ${target}`;
  if (from === 'transport') {
    if (to === 'front') return `transport ${file} imports front ${target}`;
    if (to === 'routing' && target !== TOKEN_BACKEND) return `transport ${file} imports ${target}: transports see routing only through ${TOKEN_BACKEND}`;
  }
  if ((from === 'front' || from === 'transport') && to === from) {
    const a = groupOf(from, file);
    const b = groupOf(from, target);
    if (b.startsWith('unknown') || a.startsWith('unknown')) return `${file} → ${target}: ${a.startsWith('unknown') ? a : b} belongs to no ${from} group`;
    if (b !== 'shared' && a !== b) return `${from} ${file} (${a}) imports ${target} (${b}) sideways`;
  }
  return undefined;
}

describe('gateway layout', () => {
  const files = gatewayFiles();
  const read = (f: string): string => readFileSync(path.join(GATEWAY, f), 'utf8');

  it('keeps the gateway in three rooms (front, routing, transport) below main, config and the composition root', () => {
    const rooms = new Set(files.filter((f) => f.includes('/')).map((f) => f.split('/')[0]));
    assert.deepEqual([...rooms].sort(), [...ROOMS]);
    assert.deepEqual(files.filter((f) => !f.includes('/')).sort(), ['config.ts', 'gateway.ts', 'main.ts', 'pass-through.ts']);
  });

  it(`has no file over ${MAX_FILE_LINES} lines`, () => {
    const long = files.map((f) => ({ f, n: read(f).split('\n').length - (read(f).endsWith('\n') ? 1 : 0) })).filter(({ n }) => n > MAX_FILE_LINES);
    assert.deepEqual(long.map(({ f, n }) => `${f}: ${n} lines`), []);
  });

  it(`has no function over ${MAX_FUNCTION_LINES} lines`, () => {
    const long = files.flatMap((f) => measureFunctions(f, read(f)).filter((fn) => fn.lines > MAX_FUNCTION_LINES).map((fn) => `${f}:${fn.line} ${fn.name}: ${fn.lines} lines`));
    assert.deepEqual(long, []);
  });

  it('measures every kind of function from its first line to its last', () => {
    const source = [
      'function a() {', '  return 1;', '}',
      'class K {', '  m() {', '    const f = () => {', '      return 2;', '    };', '    return f;', '  }', '}',
      'const g = function () {', '  return 3;', '};',
    ].join('\n');
    assert.deepEqual(
      measureFunctions('x.ts', source).map((f) => `${f.name}@${f.line}:${f.lines}`),
      ['a@1:3', 'm@5:6', 'ArrowFunction@6:3', 'FunctionExpression@12:3'],
    );
  });

  it('lets fronts reach routing only through the forwarder, transports only through TokenBackend, and nothing import sideways', () => {
    const broken = files.flatMap((f) => gatewayImports(f, read(f)).map((t) => importRuleBroken(f, t)).filter((why): why is string => why !== undefined));
    assert.deepEqual(broken, []);
  });

  it('refuses the imports the layout forbids', () => {
    assert.match(importRuleBroken('front/grpc-front.ts', 'transport/relay.ts') ?? '', /front .* imports transport/);
    assert.match(importRuleBroken('front/grpc-front.ts', 'front/http-errors.ts') ?? '', /sideways/);
    assert.match(importRuleBroken('front/http-server.ts', 'front/grpc-front-wire.ts') ?? '', /sideways/);
    assert.match(importRuleBroken('front/http-token.ts', 'routing/failover.ts') ?? '', /only through routing\/forwarder\.ts/);
    assert.match(importRuleBroken('routing/failover.ts', 'front/request-metrics.ts') ?? '', /routing .* imports front/);
    assert.match(importRuleBroken('routing/fault-domain.ts', 'transport/grpc-js.ts') ?? '', /routing .* imports transport/);
    assert.match(importRuleBroken('transport/relay.ts', 'transport/grpc-js.ts') ?? '', /sideways/);
    assert.match(importRuleBroken('transport/grpc-js.ts', 'routing/failover.ts') ?? '', /only through routing\/token-backend\.ts/);
    assert.match(importRuleBroken('transport/relay.ts', 'config.ts') ?? '', /from the gateway's root/);
    assert.equal(importRuleBroken('front/grpc-front.ts', 'front/request-metrics.ts'), undefined);
    assert.equal(importRuleBroken('transport/relay.ts', 'transport/relay-direct-calls.ts'), undefined);
    assert.equal(importRuleBroken('gateway.ts', 'transport/relay.ts'), undefined);
  });

  it('opens every file with one sentence saying what it is for', () => {
    // A leading doc comment followed by a blank line or the imports, not one attached to a declaration.
    const silent = files.filter((f) => !/^\/\*\*[^]*?\*\/\n(\n|import )/.test(read(f)));
    assert.deepEqual(silent, []);
  });
});
