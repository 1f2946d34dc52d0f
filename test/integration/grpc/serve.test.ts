import assert from 'node:assert/strict';
import { LIVENESS_SERVICE, serve } from '../../../lib/grpc/index.js';
import { waitForServing } from '../../support/spawn-service.js';

describe('serve', () => {
  it('answers SERVING for the liveness service while the server is not ready, and stops at shutdown', async () => {
    const running = await serve({ listen: '127.0.0.1:0', services: [], initialStatus: 'NOT_SERVING' });
    try {
      await waitForServing(running.address, 2000, LIVENESS_SERVICE);
      await assert.rejects(waitForServing(running.address, 300, ''), /not SERVING/);
      running.setServing('SERVING');
      await waitForServing(running.address, 2000, '');
      running.setServing('NOT_SERVING');
      await waitForServing(running.address, 2000, LIVENESS_SERVICE);
    } finally {
      await running.shutdown(500);
    }
  });
});
