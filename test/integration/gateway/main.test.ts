import assert from 'node:assert/strict';
import { spawnService, waitForServing } from '../../support/spawn-service.js';

describe('gateway/main.js as a process', function () {
  this.timeout(20_000);

  it('logs the bound address as JSON, serves health, and exits 0 on SIGTERM', async () => {
    const p = spawnService('gateway', 'gateway/main.js', ['--region', 'eastus', '--listen', '127.0.0.1:0', '--regional', '127.0.0.1:1', '--global', '127.0.0.1:2']);
    try {
      let address: string | undefined;
      const end = Date.now() + 10_000;
      while (address === undefined && Date.now() < end) {
        const line = p.output.find((l) => l.includes('"listening":"127.0.0.1:'));
        if (line !== undefined) address = (JSON.parse(line) as { listening: string }).listening;
        else await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(address, `no listening line in:\n${p.output.join('\n')}`);
      await waitForServing(address, 5000);
      p.kill('SIGTERM');
      assert.equal(await p.exited, 0);
    } finally {
      await p.stop();
    }
  });

  it('exits 2 with a clear message on invalid config', async () => {
    const p = spawnService('gateway', 'gateway/main.js', ['--region', 'East US']);
    assert.equal(await p.exited, 2);
    const out = p.output.join('\n');
    assert.match(out, /invalid configuration/);
    assert.match(out, /--region/);
    assert.match(out, /--regional/);
  });
});
