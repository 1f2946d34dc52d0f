import {
  DirectoryServiceService,
  type DirectoryServiceServer,
  type WatchRequest,
  type WatchResponse,
} from '../../gen/authmesh/directory/v1/directory.js';
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Clock } from '../../lib/clock/index.js';
import { unauthorizedClient } from '../../lib/errors/index.js';
import type { ServiceBinding } from '../../lib/grpc/index.js';
import type { Logger } from '../../lib/log/index.js';
import { guardDirectory, roleOf, type CallerIdentity, type DirectoryRole } from './directory-access.js';
import { parseSigningKey } from './signing-key-input.js';
import { invalidArgument } from './store/directory-error.js';
import type { DirectoryStore } from './store/store.js';
import { unary } from './unary-handler.js';
import type { UsageRecorder } from './usage-recorder.js';
import type { WatchHub } from './watch-hub.js';

export interface DirectoryServiceDeps {
  store: DirectoryStore;
  watchHub: WatchHub;
  usage: UsageRecorder;
  clock: Clock;
  log: Logger;
  /**
   * Names the mesh member behind a call: the SPIFFE id of its certificate under mutual TLS, the
   * member a development token was issued for otherwise. Its role decides what it may do.
   */
  callerIdentity: CallerIdentity;
  /** Identities in a snapshot when the caller asks for 0 (default 5000). */
  defaultSnapshotIdentities?: number;
}

const REGION = /^[a-z][a-z0-9-]{0,31}$/;
const MAX_SNAPSHOT_IDENTITIES = 50_000;
const MAX_USAGE_ENTRIES = 10_000;
/** Usage stamped further ahead than this is clamped to now. */
const MAX_FUTURE_SKEW_MS = 60_000;

/**
 * authmesh.directory.v1.DirectoryService: what regional and backup instances read from global
 * (snapshot, lookup, watch) and report to it (signing keys, usage). Mesh members only.
 */
export function directoryServiceBinding(deps: DirectoryServiceDeps): ServiceBinding {
  const { store, watchHub, usage, clock, log } = deps;
  const regionOrEmpty = (field: string, value: string): string => {
    if (value !== '' && !REGION.test(value)) throw invalidArgument(`${field} must be a region name like eastus`);
    return value;
  };
  /** A regional acts for its own region only (the request may repeat it or leave it empty); admin for any. */
  const callerRegion = (role: DirectoryRole, value: string): string => {
    const asked = regionOrEmpty('region', value);
    if (role.region === undefined) return asked;
    if (asked !== '' && asked !== role.region) throw unauthorizedClient(`mesh member ${role.member} acts for region ${role.region} only`);
    return role.region;
  };

  const implementation: DirectoryServiceServer = {
    getSnapshot: unary(log, 'GetSnapshot', async (req, call) => {
      const region = callerRegion(roleOf(call), req.region);
      const max = Math.min(req.maxIdentities || (deps.defaultSnapshotIdentities ?? 5000), MAX_SNAPSHOT_IDENTITIES);
      const snapshot = await store.snapshot(region, max);
      log.debug({ region, revision: snapshot.revision, identities: snapshot.identities.length }, 'snapshot served');
      return snapshot;
    }),
    lookupIdentity: unary(log, 'LookupIdentity', async (req, call) => {
      const role = roleOf(call);
      const region = callerRegion(role, req.region);
      if (req.tenantId === '' || req.clientId === '') throw invalidArgument('tenant_id and client_id are required');
      // Head, tenant and identity are read in one transaction, so they agree.
      const { revision, tenant, identity } = await store.lookup(req.tenantId, req.clientId);
      // Only a region's own lookups count as its usage (they widen what its snapshots and the backup cover).
      if (identity !== undefined && region !== '' && role.region !== undefined) {
        usage.record({ tenantId: identity.tenantId, clientId: identity.clientId, region, atMs: clock.now(), authenticated: false });
      }
      return { revision, tenant, identity };
    }),
    watch: (call: ServerWritableStream<WatchRequest, WatchResponse>) => watchHub.serve(call),
    registerSigningKey: unary(log, 'RegisterSigningKey', async (req, call) => {
      const role = roleOf(call);
      const key = await parseSigningKey(req.domain, req.publicJwkJson);
      // The domain comes from who the caller is; the request may only repeat it. No caller may
      // register `global` (global publishes its own keys in-process), so none can retire its key.
      if (role.signingDomain === undefined || key.domain !== role.signingDomain) {
        throw unauthorizedClient(`mesh member ${role.member} may register signing keys for ${role.signingDomain ?? 'no domain'} only`);
      }
      const { revision, created } = await store.registerSigningKey(key.kid, key.domain, key.publicJwkJson);
      if (created) log.info({ kid: key.kid, domain: key.domain, revision }, 'signing key published');
      return { kid: key.kid, revision };
    }),
    reportUsage: unary(log, 'ReportUsage', async (req, call) => {
      if (!REGION.test(req.region)) throw invalidArgument('region must be a region name like eastus');
      const region = callerRegion(roleOf(call), req.region);
      if (req.entries.length > MAX_USAGE_ENTRIES) throw invalidArgument(`at most ${MAX_USAGE_ENTRIES} entries per report`);
      const now = clock.now();
      const records = req.entries
        .filter((e) => e.tenantId !== '' && e.clientId !== '' && e.authenticatedAtMs > 0)
        .map((e) => ({
          tenantId: e.tenantId,
          clientId: e.clientId,
          region,
          atMs: e.authenticatedAtMs > now + MAX_FUTURE_SKEW_MS ? now : e.authenticatedAtMs,
          authenticated: true,
        }));
      await store.recordUsage(records);
      return {};
    }),
  };

  return {
    name: 'authmesh.directory.v1.DirectoryService',
    definition: DirectoryServiceService,
    implementation: guardDirectory(DirectoryServiceService, implementation, deps.callerIdentity),
  };
}
