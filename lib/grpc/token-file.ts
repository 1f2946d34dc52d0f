import { readFileSync } from 'node:fs';
import { systemClock, type Clock } from '../clock/index.js';

/**
 * A mesh credential kept in a file, read when first needed and again at most every `refreshMs`,
 * so a process started before the file is written, or left running while it is replaced, sends
 * the current one. Answers the last token read (undefined before any): a file that is missing or
 * empty for a moment does not take away a token that worked.
 */
export function tokenFileReader(file: string, refreshMs = 5000, clock: Clock = systemClock): () => string | undefined {
  let token: string | undefined;
  let readAt = -Infinity;
  return () => {
    const now = clock.now();
    if (now - readAt < refreshMs) return token;
    readAt = now;
    try {
      const text = readFileSync(file, 'utf8').trim();
      if (text.length > 0) token = text;
    } catch {
      // Not written yet, or being replaced: keep the last one.
    }
    return token;
  };
}
