/**
 * In-process scale micro-bench, run in its own process with --expose-gc: heap per cached identity
 * and lookup latency of the regional DirectoryCache at several sizes, beside a plain Map.get with
 * the same keys (the machine's floor for a lookup at that size), and the backup's snapshot load time
 * (verify + decode) at the same sizes. Prints one JSON line.
 */
import * as hdr from 'hdr-histogram-js';
import { CredentialKind, type Identity } from '../gen/authmesh/directory/v1/directory.js';
import { encodeSnapshot, readSnapshot } from '../lib/backup/index.js';
import { exportKeyPair, syntheticContent } from '../test/support/backup-fixtures.js';
import { DirectoryCache } from '../services/regional/directory-cache.js';

export interface ScalePoint {
  identities: number;
  heapBytesPerIdentity: number;
  lookupP50Ns: number;
  lookupP99Ns: number;
  /** The anchor: a Map<string, Identity> keyed by client id, read with the same fresh keys. */
  mapGetP50Ns?: number;
  mapGetP99Ns?: number;
  snapshotBytes?: number;
  snapshotLoadMs?: number;
}

const TENANT = '20000000-0000-4000-8000-000000000001';
const RESOURCE = 'https://storage.authmesh.local';

const idOf = (n: number): string => String(n).padStart(12, '0');
const clientIdOf = (id: string): string => `00000000-0000-4000-8000-${id}`;

/** An identity shaped like a real one: one certificate credential (P-256 JWK) and one role. */
function identity(n: number): Identity {
  const id = idOf(n);
  const x = Buffer.from(`x-${id}-${'a'.repeat(17)}`).toString('base64url').slice(0, 43);
  const y = Buffer.from(`y-${id}-${'b'.repeat(17)}`).toString('base64url').slice(0, 43);
  return {
    tenantId: TENANT,
    clientId: clientIdOf(id),
    objectId: `10000000-0000-4000-8000-${id}`,
    name: `app-${n}`,
    enabled: true,
    credentials: [
      {
        keyId: Buffer.from(`kid-${id}-${'c'.repeat(20)}`).toString('base64url').slice(0, 43),
        kind: CredentialKind.CREDENTIAL_KIND_CERTIFICATE,
        publicJwkJson: JSON.stringify({ kty: 'EC', crv: 'P-256', x, y }),
        secretHash: '',
        notBefore: 0,
        notAfter: 0,
        x5tS256: '',
      },
    ],
    grants: [{ resource: RESOURCE, role: 'Blob.Read' }],
    postureChangedAtMs: 0,
    lastAuthenticatedAtMs: 0,
  };
}

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g === undefined) throw new Error('run with --expose-gc');
  g();
  g();
};

/**
 * Lookup keys as a request delivers them: tenant and client id freshly decoded from bytes, so each
 * is a new flat string whose hash V8 has not computed yet (as with ids decoded from protobuf).
 * Clients are drawn at random from the `n` cached ones.
 */
function randomKeys(n: number, count: number): { tenantIds: string[]; clientIds: string[] } {
  const decoder = new TextDecoder();
  const tenant = Buffer.from(TENANT);
  const tenantIds: string[] = [];
  const clientIds: string[] = [];
  for (let i = 0; i < count; i += 1) {
    tenantIds.push(decoder.decode(tenant));
    clientIds.push(decoder.decode(Buffer.from(clientIdOf(idOf((Math.random() * n) | 0)))));
  }
  return { tenantIds, clientIds };
}

type Lookup = (tenantId: string, clientId: string) => unknown;

/**
 * Looks up every key, timing batches of 64 consecutive lookups (one lookup is below the timer's
 * resolution) and recording each batch's time per lookup in ns. Returns the number of hits.
 */
function timedLookups(lookup: Lookup, keys: { tenantIds: string[]; clientIds: string[] }, h: hdr.Histogram): number {
  const { tenantIds, clientIds } = keys;
  let hits = 0;
  for (let b = 0; b + 64 <= clientIds.length; b += 64) {
    const t0 = process.hrtime.bigint();
    for (let j = b; j < b + 64; j += 1) if (lookup(tenantIds[j]!, clientIds[j]!) !== undefined) hits += 1;
    h.recordValue(Math.max(1, Number(process.hrtime.bigint() - t0) / 64));
  }
  return hits;
}

const histogram = (): hdr.Histogram => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });

/** Heap in use, with the array buffers a structure keeps outside the V8 heap. */
function heapBytes(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Times `lookup` over fresh random keys after a warm-up pass; returns p50 and p99 in ns. */
function measureLookups(lookup: Lookup, n: number, lookups: number): { p50: number; p99: number } {
  // Both key sets are made before timing starts, so the timed loop allocates only what a lookup
  // itself does. The warm-up pass (the same loop over its own random keys, its timings discarded)
  // lets the lookup code be compiled and the freshly built heap be touched once; the timed pass then
  // measures the steady state with key strings none of which has been looked up before.
  const warmUp = randomKeys(n, lookups);
  const timed = randomKeys(n, lookups);
  gc();
  timedLookups(lookup, warmUp, histogram());
  const h = histogram();
  const hits = timedLookups(lookup, timed, h);
  if (hits !== lookups - (lookups % 64)) throw new Error(`lookups missed: ${hits} hits`);
  return { p50: Math.round(h.getValueAtPercentile(50)), p99: Math.round(h.getValueAtPercentile(99)) };
}

function measureCache(n: number, lookups: number): Pick<ScalePoint, 'heapBytesPerIdentity' | 'lookupP50Ns' | 'lookupP99Ns'> {
  const clock = { now: () => Date.now() };
  gc();
  const before = heapBytes();
  const cache = new DirectoryCache({ capacity: n, clock });
  cache.applySnapshot({
    revision: 1,
    headRevision: 1,
    tenants: [{ tenantId: TENANT, name: 'scale', resources: [{ identifier: RESOURCE, roles: ['Blob.Read'] }] }],
    identities: Array.from({ length: n }, (_, i) => identity(i)),
    signingKeys: [],
  } as unknown as Parameters<DirectoryCache['applySnapshot']>[0]);
  gc();
  const after = heapBytes();
  const { p50, p99 } = measureLookups((tenantId, clientId) => cache.read(tenantId, clientId), n, lookups);
  if (cache.identities.size !== n) throw new Error('cache lost identities');
  return { heapBytesPerIdentity: Math.round((after - before) / n), lookupP50Ns: p50, lookupP99Ns: p99 };
}

/** The anchor: the same lookups on a plain Map keyed by client id, built the same way. */
function measureMap(n: number, lookups: number): Pick<ScalePoint, 'mapGetP50Ns' | 'mapGetP99Ns'> {
  const map = new Map<string, Identity>();
  for (let i = 0; i < n; i += 1) {
    const id = identity(i);
    map.set(id.clientId, id);
  }
  gc();
  const { p50, p99 } = measureLookups((_tenantId, clientId) => map.get(clientId), n, lookups);
  return { mapGetP50Ns: p50, mapGetP99Ns: p99 };
}

async function measureSnapshot(n: number): Promise<{ snapshotBytes: number; snapshotLoadMs: number }> {
  const { signer, verifier } = await exportKeyPair();
  const data = encodeSnapshot(syntheticContent(n, 1, Date.now()), signer);
  const t0 = performance.now();
  const content = readSnapshot(data, verifier);
  const ms = performance.now() - t0;
  if (content.identities.length !== n) throw new Error('snapshot lost identities');
  return { snapshotBytes: data.length, snapshotLoadMs: Math.round(ms * 10) / 10 };
}

async function main(argv: string[]): Promise<void> {
  const sizes = (argv[0] ?? '1000,100000,1000000').split(',').map(Number);
  const lookups = Number(argv[1] ?? '200000');
  const points: ScalePoint[] = [];
  for (const n of sizes) {
    const cache = measureCache(n, lookups);
    gc();
    const map = measureMap(n, lookups);
    gc();
    const snap = await measureSnapshot(n);
    points.push({ identities: n, ...cache, ...map, ...snap });
    gc();
  }
  process.stdout.write(`${JSON.stringify(points)}\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
