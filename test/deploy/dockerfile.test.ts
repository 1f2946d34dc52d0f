import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './service-contract.js';

interface Instruction {
  stage: number;
  keyword: string;
  args: string;
}

/** Splits a Dockerfile into instructions (continuations joined, comments dropped), numbering the stages. */
function parseDockerfile(text: string): Instruction[] {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  let stage = -1;
  return lines.map((line) => {
    const [keyword, ...rest] = line.split(/\s+/);
    if (keyword!.toUpperCase() === 'FROM') stage += 1;
    return { stage, keyword: keyword!.toUpperCase(), args: rest.join(' ') };
  });
}

const dockerfile = parseDockerfile(readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const lastStage = Math.max(...dockerfile.map((i) => i.stage));
const runtime = dockerfile.filter((i) => i.stage === lastStage);

describe('Dockerfile', () => {
  it('builds in one stage and ships from a separate runtime stage on a supported Node.js LTS the engines field allows when read', () => {
    assert.ok(lastStage >= 1, 'not multi-stage');
    assert.ok(dockerfile.some((i) => i.stage < lastStage && i.keyword === 'RUN' && /python3/.test(i.args) && /g\+\+/.test(i.args)), 'build stage lacks the native addon toolchain');
    const image = dockerfile.find((i) => i.keyword === 'ARG' && i.args.startsWith('NODE_IMAGE='))?.args.slice('NODE_IMAGE='.length) ?? '';
    for (const from of dockerfile.filter((i) => i.keyword === 'FROM')) assert.match(from.args, /^\$\{NODE_IMAGE\}( |$)/, `a stage is not on NODE_IMAGE: ${from.args}`);
    const major = Number(/^(?:node:|gcr\.io\/distroless\/nodejs)(\d+)/.exec(image)?.[1]);
    // Node 20 reached its end of life on 2026-04-30; 22 and 24 are the LTS lines still supported.
    assert.ok([22, 24].includes(major), `runtime ${image} is not a supported Node.js LTS`);
    const engines = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    assert.ok(engines.split('||').some((range) => Number(/^>=(\d+)$/.exec(range.trim())?.[1] ?? Infinity) <= major), `engines ${engines} does not allow Node ${major}`);
    assert.match(engines, /(^|\|\|)\s*>=20\.\d+/, `engines ${engines} no longer allows Node 20`);
    assert.ok(!runtime.some((i) => i.keyword === 'RUN' && /apt-get install/.test(i.args)), 'runtime stage installs build tools');
  });

  it('runs as the non-root uid 10001 when started', () => {
    const users = runtime.filter((i) => i.keyword === 'USER');
    assert.ok(users.length > 0, 'no USER in the runtime stage');
    assert.match(users.at(-1)!.args, /^10001(:10001)?$/);
  });

  it('starts node on a file that make build produces when run without a command', () => {
    const entrypoint = runtime.find((i) => i.keyword === 'ENTRYPOINT');
    assert.deepEqual(JSON.parse(entrypoint?.args ?? 'null'), ['node']);
    const cmd = JSON.parse(runtime.find((i) => i.keyword === 'CMD')?.args ?? '[]') as string[];
    assert.match(cmd[0] ?? '', /^dist\/.+\.js$/);
    assert.ok(existsSync(path.join(REPO_ROOT, cmd[0]!)), `${cmd[0]} is not built`);
  });

  it('ships the Apache License 2.0 text that package.json names when built', () => {
    const license = readFileSync(path.join(REPO_ROOT, 'LICENSE'), 'utf8');
    assert.equal((JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { license: string }).license, 'Apache-2.0');
    assert.match(license, /Apache License\s+Version 2\.0, January 2004/);
    assert.match(license, /END OF TERMS AND CONDITIONS/);
    assert.ok(license.length > 11_000, 'not the full text');
    assert.ok(runtime.some((i) => i.keyword === 'COPY' && /\/src\/LICENSE /.test(i.args)), 'LICENSE is not in the image');
  });

  it('copies the compiled output, the protos the gateway loads and production dependencies when built', () => {
    const copied = runtime.filter((i) => i.keyword === 'COPY').map((i) => i.args);
    for (const what of ['dist', 'proto', 'node_modules']) assert.ok(copied.some((a) => new RegExp(`/src/${what} `).test(a)), `${what} is not copied`);
    assert.ok(dockerfile.some((i) => i.keyword === 'RUN' && /npm prune --omit=dev/.test(i.args)), 'dev dependencies are shipped');
  });

  it('keeps local state and build output out of the context when .dockerignore is read', () => {
    const ignored = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8').split(/\r?\n/).map((l) => l.trim());
    for (const entry of ['.git', 'node_modules', 'dist', '.mesh']) assert.ok(ignored.includes(entry), `${entry} is not ignored`);
  });
});
