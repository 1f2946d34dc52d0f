import assert from 'node:assert/strict';
import { hostPortList } from '../../../lib/config/index.js';
import { meshTarget, serve, waitForServing, type RunningServer } from '../../../lib/grpc/index.js';

describe('Several instances of one tier behind one address list', function () {
  this.timeout(20_000);

  it('accepts one host:port or a list of IP host:port and refuses a list of names', () => {
    assert.equal(hostPortList('127.0.0.1:50051'), undefined);
    assert.equal(hostPortList('global.example:50051'), undefined);
    assert.equal(hostPortList('127.0.0.1:50051,127.0.0.1:50052'), undefined);
    assert.match(hostPortList('a.example:1,b.example:2') ?? '', /IPv4 or all IPv6/);
    assert.match(hostPortList('127.0.0.1:50051,nope') ?? '', /host:port/);
    assert.equal(meshTarget('127.0.0.1:1,127.0.0.1:2'), 'ipv4:127.0.0.1:1,127.0.0.1:2');
    assert.equal(meshTarget('global:50051'), 'global:50051');
  });

  it('reaches the instance that is up when the first one in the list is gone', async () => {
    // Two servers on free ports; the first is stopped, the list still answers through the second.
    const servers: RunningServer[] = [];
    for (let i = 0; i < 2; i += 1) servers.push(await serve({ listen: '127.0.0.1:0', services: [] }));
    const list = servers.map((s) => s.address).join(',');
    await servers[0]!.shutdown(0);
    try {
      await waitForServing(list, { timeoutMs: 10_000 });
    } finally {
      await servers[1]!.shutdown(0);
    }
  });
});
