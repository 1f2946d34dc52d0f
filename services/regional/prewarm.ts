import type { DirectoryCache } from './directory-cache.js';
import type { DirectoryCallOptions, DirectorySource } from './directory-client.js';

export interface PrewarmOptions {
  source: Pick<DirectorySource, 'getSnapshot'>;
  cache: DirectoryCache;
  /** This region; global answers with the identities recently used here (or all, when few). */
  region: string;
  /** Most identities to ask for; defaults to the cache capacity. */
  maxIdentities?: number;
  /** Deadline of the snapshot call, in ms. Default 10000. */
  timeoutMs?: number;
  now?: () => number;
}

/** What a snapshot load brought in. */
export interface PrewarmResult {
  revision: number;
  identities: number;
  tenants: number;
  signingKeys: number;
}

/**
 * Loads a snapshot from global into the cache: at start (prewarm) and whenever the watch cannot
 * resume because global compacted its log. Rejects with the DirectoryCallError when global cannot
 * be reached; the cache is untouched then.
 */
export async function loadSnapshot(options: PrewarmOptions, call: DirectoryCallOptions = {}): Promise<PrewarmResult> {
  const now = options.now ?? Date.now;
  const snapshot = await options.source.getSnapshot(
    { region: options.region, maxIdentities: Math.min(options.maxIdentities ?? options.cache.identities.capacity, options.cache.identities.capacity) },
    { deadline: call.deadline ?? now() + (options.timeoutMs ?? 10_000), ...(call.signal === undefined ? {} : { signal: call.signal }) },
  );
  options.cache.applySnapshot(snapshot);
  return {
    revision: snapshot.revision,
    identities: Math.min(snapshot.identities.length, options.cache.identities.capacity),
    tenants: snapshot.tenants.length,
    signingKeys: snapshot.signingKeys.length,
  };
}
