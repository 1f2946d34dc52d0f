import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { serve } from '../../../lib/grpc/index.js';
import { RECEIVE_WINDOW_BYTES } from '../../../lib/grpc/serve.js';

/** A client session's view of a server once its SETTINGS and first WINDOW_UPDATE are in. */
async function windows(address: string): Promise<{ initialWindowSize: number | undefined; connectionWindow: number | undefined }> {
  const session = http2.connect(`http://${address}`);
  try {
    const until = Date.now() + 5000;
    for (;;) {
      const initialWindowSize = session.remoteSettings?.initialWindowSize;
      const connectionWindow = session.state?.remoteWindowSize;
      if ((initialWindowSize !== undefined && initialWindowSize !== 65_535 && connectionWindow !== undefined && connectionWindow > 65_535) || Date.now() > until) {
        return { initialWindowSize, connectionWindow };
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    session.close();
  }
}

describe('serve (HTTP/2 receive windows)', () => {
  it('lets a client have 1 MiB in flight per connection and per stream instead of 64 KiB', async () => {
    const running = await serve({ listen: '127.0.0.1:0', services: [] });
    try {
      const w = await windows(running.address);
      assert.equal(w.initialWindowSize, RECEIVE_WINDOW_BYTES);
      assert.equal(w.connectionWindow, RECEIVE_WINDOW_BYTES);
    } finally {
      await running.shutdown(500);
    }
  });

  it('keeps HTTP/2\'s default windows when asked for 65,535 bytes', async () => {
    const running = await serve({ listen: '127.0.0.1:0', services: [], receiveWindowBytes: 65_535 });
    try {
      const session = http2.connect(`http://${running.address}`);
      await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
      // A round trip: a WINDOW_UPDATE the server sent with its SETTINGS would be here by its end.
      await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
      assert.equal(session.remoteSettings.initialWindowSize, 65_535);
      assert.equal(session.state.remoteWindowSize, 65_535);
      session.close();
    } finally {
      await running.shutdown(500);
    }
  });
});
