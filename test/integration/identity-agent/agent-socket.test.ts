import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { agentTarget, DEFAULT_AGENT_ENDPOINT } from '../../../client/agent-transport.js';
import { AGENT_SOCKET_NAME, prepareAgentSocket } from '../../../services/identity-agent/agent-socket.js';
import { DEFAULT_SOCKET_DIR, parseAgentConfig } from '../../../services/identity-agent/config.js';
import { ConfigError } from '../../../lib/config/index.js';

describe('identity agent socket', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authmesh-agent-sock-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('removes a socket left by an agent that is gone', async () => {
    const socket = path.join(dir, AGENT_SOCKET_NAME);
    // The socket file of a process that is gone: Node removes a socket it closes, so a second
    // name keeps the file and takes its place once nothing listens on it.
    const stale = net.createServer();
    await new Promise<void>((resolve) => stale.listen(socket, resolve));
    fs.linkSync(socket, `${socket}.keep`);
    await new Promise<void>((resolve) => stale.close(() => resolve()));
    fs.renameSync(`${socket}.keep`, socket);
    assert.ok(fs.lstatSync(socket).isSocket());
    assert.equal(await prepareAgentSocket(dir), socket);
    assert.equal(fs.existsSync(socket), false);
  });

  it('refuses to start beside a live agent, or on a file that is no socket', async () => {
    const socket = path.join(dir, AGENT_SOCKET_NAME);
    const live = net.createServer();
    await new Promise<void>((resolve) => live.listen(socket, resolve));
    try {
      await assert.rejects(prepareAgentSocket(dir), /another identity agent serves on/);
    } finally {
      await new Promise<void>((resolve) => live.close(() => resolve()));
    }
    fs.writeFileSync(socket, 'not a socket');
    await assert.rejects(prepareAgentSocket(dir), /exists and is not a socket/);
  });

  it('refuses a socket directory whose socket path is too long for a Unix socket, and a --listen off loopback', () => {
    const base = ['--tenant', 't', '--client', 'c'];
    assert.throws(() => parseAgentConfig([...base, '--socket-dir', `/tmp/${'d'.repeat(120)}`], {}), (e: unknown) => e instanceof ConfigError && /socket-dir is too long/.test(e.message));
    assert.throws(() => parseAgentConfig([...base, '--listen', '0.0.0.0:50081'], {}), (e: unknown) => e instanceof ConfigError && /loopback/.test(e.message));
    assert.equal(parseAgentConfig(base, {}).listen, '', 'no TCP unless asked');
  });

  it('is where the client SDK looks for the agent by default', () => {
    assert.equal(DEFAULT_AGENT_ENDPOINT, `unix:${path.join(DEFAULT_SOCKET_DIR, AGENT_SOCKET_NAME)}`);
    assert.equal(agentTarget('/run/x/agent.sock'), 'unix:/run/x/agent.sock');
    assert.equal(agentTarget('127.0.0.1:50081'), '127.0.0.1:50081');
  });
});
