import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { DirectoryCallError, isCompacted } from '../../../services/regional/directory-client.js';
import { grpcDirectorySource, type GrpcDirectorySource } from '../../../services/regional/directory-client-grpc.js';
import type { WatchResponse } from '../../../gen/authmesh/directory/v1/directory.js';
import { startFakeDirectoryServer, type FakeDirectoryServer } from '../../support/fake-directory-server.js';
import { FakeDirectory, makeIdentity, makeTenant } from '../../support/fake-directory.js';

const MESH = 'mesh-secret-token';

describe('grpcDirectorySource', () => {
  let fake: FakeDirectory;
  let server: FakeDirectoryServer;
  let source: GrpcDirectorySource;

  beforeEach(async () => {
    fake = new FakeDirectory();
    fake.putTenant(makeTenant('t1'));
    fake.putIdentity(makeIdentity('t1', 'app'));
    server = await startFakeDirectoryServer(fake, { meshToken: MESH });
    source = grpcDirectorySource({ address: server.address, meshToken: () => MESH, watchIdleTimeoutMs: 500 });
  });
  afterEach(async () => {
    source.close();
    await server.stop();
  });

  it('fetches a snapshot and looks up one identity with the mesh credential', async () => {
    const snapshot = await source.getSnapshot({ region: 'eastus', maxIdentities: 0 });
    assert.equal(snapshot.revision, 2);
    assert.deepEqual(snapshot.identities.map((i) => i.clientId), ['app']);
    const found = await source.lookupIdentity({ tenantId: 't1', clientId: 'app', region: 'eastus' });
    assert.equal(found.identity?.clientId, 'app');
    const missing = await source.lookupIdentity({ tenantId: 't1', clientId: 'nobody', region: 'eastus' });
    assert.equal(missing.identity, undefined);
    assert.equal(missing.tenant?.tenantId, 't1');
  });

  it('fails with UNAUTHENTICATED without the mesh credential', async () => {
    const stranger = grpcDirectorySource({ address: server.address, meshToken: () => undefined });
    try {
      await assert.rejects(stranger.getSnapshot({ region: '', maxIdentities: 0 }), (err: unknown) => err instanceof DirectoryCallError && err.code === status.UNAUTHENTICATED);
    } finally {
      stranger.close();
    }
  });

  it('streams the log after a revision and then live changes, in order', async () => {
    const seen: WatchResponse[] = [];
    const controller = new AbortController();
    const watching = source.watch(1, (m) => seen.push(m), controller.signal);
    for (let i = 0; i < 50 && seen.length < 1; i += 1) await new Promise((r) => setTimeout(r, 10));
    fake.putIdentity(makeIdentity('t1', 'app', { enabled: false }));
    for (let i = 0; i < 50 && seen.length < 2; i += 1) await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    await assert.rejects(watching, (err: unknown) => err instanceof DirectoryCallError && err.code === status.CANCELLED);
    assert.deepEqual(seen.map((m) => [m.revision, m.identity?.enabled]), [[2, true], [3, false]]);
  });

  it('fails a watch with OUT_OF_RANGE once the log is compacted past its revision', async () => {
    fake.compact();
    await assert.rejects(source.watch(0, () => undefined, new AbortController().signal), isCompacted);
  });

  it('treats a silent watch as dead after the idle timeout', async () => {
    const started = Date.now();
    await assert.rejects(
      source.watch(fake.revision, () => undefined, new AbortController().signal),
      (err: unknown) => err instanceof DirectoryCallError && err.code === status.UNAVAILABLE && /silent/.test(err.message),
    );
    assert.ok(Date.now() - started >= 450);
  });

  it('fails fast with UNAVAILABLE when global is not listening', async () => {
    await server.stop();
    const started = Date.now();
    await assert.rejects(
      source.lookupIdentity({ tenantId: 't1', clientId: 'app', region: 'eastus' }, { deadline: Date.now() + 3000 }),
      (err: unknown) => err instanceof DirectoryCallError && (err.code === status.UNAVAILABLE || err.code === status.DEADLINE_EXCEEDED),
    );
    assert.ok(Date.now() - started < 3500);
  });
});
