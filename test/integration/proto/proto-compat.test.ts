import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const PROTO = path.join(ROOT, 'proto');

function protoFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? protoFiles(full) : e.name.endsWith('.proto') ? [path.relative(PROTO, full)] : [];
  });
}

const hasProtoc = spawnSync('protoc', ['--version']).status === 0;

describe('proto/ for clients in other languages', () => {
  const files = protoFiles(PROTO);

  it('imports nothing beyond its own files and the protobuf well-known types', () => {
    assert.ok(files.length >= 3);
    for (const file of files) {
      const text = fs.readFileSync(path.join(PROTO, file), 'utf8');
      for (const [, imported] of text.matchAll(/^import\s+(?:public\s+|weak\s+)?"([^"]+)";/gm)) {
        assert.ok(
          imported!.startsWith('google/protobuf/') || files.includes(imported!),
          `${file} imports ${imported}`,
        );
      }
      assert.match(text, /^package authmesh\.[a-z.]+\.v\d+;$/m, `${file} has a versioned authmesh package`);
    }
  });

  it('sets go_package and the java options on every file, derived from its package', () => {
    for (const file of files) {
      const text = fs.readFileSync(path.join(PROTO, file), 'utf8');
      const [, name, version] = /^package authmesh\.([a-z]+)\.(v\d+);$/m.exec(text) ?? [];
      assert.ok(name !== undefined && version !== undefined, `${file} has a package authmesh.<name>.<version>`);
      const options = Object.fromEntries([...text.matchAll(/^option\s+(\w+)\s*=\s*(.+);$/gm)].map(([, k, v]) => [k, v]));
      const stem = path.basename(file, '.proto');
      assert.deepEqual(
        options,
        {
          go_package: `"github.com/authmesh/authmesh/gen/go/authmesh/${name}/${version};${name}${version}"`,
          java_multiple_files: 'true',
          java_outer_classname: `"${stem[0]!.toUpperCase()}${stem.slice(1)}Proto"`,
          java_package: `"io.authmesh.${name}.${version}"`,
        },
        file,
      );
    }
  });

  it('keeps each committed release image in proto/releases equal to buf build of its tag', function () {
    const images = fs.readdirSync(path.join(PROTO, 'releases')).filter((f) => /^v\d+\.\d+\.\d+\.binpb$/.test(f));
    assert.ok(images.length >= 1, 'no release image: make lint falls back to one when the clone has no tags');
    const tags = spawnSync('git', ['tag', '--list', 'v*'], { cwd: ROOT, encoding: 'utf8' }).stdout.split('\n');
    const tagged = images.filter((f) => tags.includes(f.replace(/\.binpb$/, '')));
    if (tagged.length === 0) {
      // A clone without tags (CI) has nothing to rebuild the images from.
      this.skip();
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-release-'));
    try {
      for (const image of tagged) {
        const out = path.join(dir, image);
        execFileSync(path.join(ROOT, 'node_modules', '.bin', 'buf'), ['build', `.git#tag=${image.replace(/\.binpb$/, '')}`, '-o', out], { cwd: ROOT, stdio: 'pipe' });
        assert.ok(fs.readFileSync(out).equals(fs.readFileSync(path.join(PROTO, 'releases', image))), `proto/releases/${image} differs from its tag`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('compiles with plain protoc, token API included', function () {
    if (!hasProtoc) {
      // .ci/run installs Debian's protobuf-compiler; elsewhere install it to run this check.
      this.skip();
    }
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-protoc-')), 'all.pb');
    execFileSync('protoc', [`-I${PROTO}`, `--descriptor_set_out=${out}`, '--include_imports', ...files], { stdio: 'pipe' });
    const descriptor = fs.readFileSync(out);
    assert.ok(descriptor.includes(Buffer.from('authmesh.token.v1')));
    assert.ok(descriptor.includes(Buffer.from('AcquireToken')));
    assert.ok(descriptor.includes(Buffer.from('GetJwks')));
    fs.rmSync(path.dirname(out), { recursive: true, force: true });
  });
});
