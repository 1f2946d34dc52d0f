import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * The version of authmesh this process runs: `version` of the nearest package.json named
 * `authmesh` above this file (the repository, or /app in the image); `unknown` when none is found.
 */
export function buildVersion(from: string = __dirname): string {
  let dir = from;
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'authmesh' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // No package.json here, or not JSON: look further up.
    }
    const up = path.dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}
