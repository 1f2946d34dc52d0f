import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { anchorsOf, relativeLinksOf } from '../../support/markdown.js';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const README = path.join(ROOT, 'README.md');
const DOCS = path.join(ROOT, 'docs');

/** The Markdown files whose links are checked: the README and every page of docs/. */
const markdownFiles = (): string[] => [
  README,
  ...fs
    .readdirSync(DOCS)
    .filter((f) => f.endsWith('.md'))
    .map((f) => path.join(DOCS, f)),
];

/** What is wrong with each relative link of `file`: a missing file, or a missing heading for its `#anchor`. */
function brokenLinks(file: string): string[] {
  const broken: string[] = [];
  for (const href of relativeLinksOf(fs.readFileSync(file, 'utf8'))) {
    const [target, anchor] = href.split('#', 2) as [string, string | undefined];
    const resolved = target === '' ? file : path.resolve(path.dirname(file), decodeURIComponent(target));
    const where = `${path.relative(ROOT, file)}: ${href}`;
    if (!fs.existsSync(resolved)) {
      broken.push(`${where} (no file ${path.relative(ROOT, resolved)})`);
      continue;
    }
    if (anchor !== undefined && anchor !== '' && resolved.endsWith('.md') && !anchorsOf(fs.readFileSync(resolved, 'utf8')).has(anchor)) {
      broken.push(`${where} (no heading for #${anchor})`);
    }
  }
  return broken;
}

describe('README.md and docs/', () => {
  it('keeps the README under 250 lines', () => {
    const lines = fs.readFileSync(README, 'utf8').replace(/\n$/, '').split('\n').length;
    assert.ok(lines < 250, `README.md has ${lines} lines`);
  });

  it('keeps the two quick-start commands at the top of the README', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(fs.readFileSync(README, 'utf8'));
    assert.ok(firstBlock !== null, 'README.md has no sh block');
    assert.match(firstBlock[1]!, /^make run-mesh\b/m);
    assert.match(firstBlock[1]!, /^make test\b/m);
  });

  it('links from the README every page of docs/', () => {
    const links = new Set(relativeLinksOf(fs.readFileSync(README, 'utf8')).map((href) => href.split('#')[0]));
    const pages = fs.readdirSync(DOCS).filter((f) => f.endsWith('.md') || f.endsWith('.yaml'));
    assert.deepEqual(pages.filter((f) => !links.has(`docs/${f}`)), []);
  });

  it('has every relative link of README.md and docs/*.md point at a file that exists, and at a heading of it for #anchor', () => {
    const files = markdownFiles();
    assert.ok(files.length > 1);
    assert.deepEqual(files.flatMap(brokenLinks), []);
  });

  it('finds a broken file link and a broken anchor (the checker itself)', () => {
    const dir = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), 'links-'));
    try {
      const doc = path.join(dir, 'a.md');
      fs.writeFileSync(
        doc,
        '# Title\n\n## The `relay` transport: v1\n\n[ok](#the-relay-transport-v1) [ok2](a.md#title) [bad](missing.md) [bad2](#nope)\n\n```sh\n[not a link](nowhere.md)\n```\n',
      );
      assert.deepEqual(brokenLinks(doc), [`${path.relative(ROOT, doc)}: missing.md (no file ${path.relative(ROOT, path.join(dir, 'missing.md'))})`, `${path.relative(ROOT, doc)}: #nope (no heading for #nope)`]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
