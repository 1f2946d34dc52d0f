import path from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { serveTokenService } from './fake-token-server.js';

/** A TokenService (with the relay) on its own thread, so it keeps answering while the test's thread is blocked. */
export interface WorkerTokenServer {
  address: string;
  stop(): Promise<void>;
}

interface Options {
  /** Calls from client ids starting with `hang` are never answered; the others after this many ms. */
  answerAfterMs: number;
}

/**
 * Starts the server in a worker thread. A test can then hold its own event loop (as a long GC or
 * a starved CPU holds the gateway's) while the domain goes on answering into the socket.
 */
export async function startWorkerTokenServer(options: Options): Promise<WorkerTokenServer> {
  const worker = new Worker(path.join(__dirname, 'worker-token-server.js'), { workerData: options });
  const address = await new Promise<string>((resolve, reject) => {
    worker.once('message', (m: { address: string }) => resolve(m.address));
    worker.once('error', reject);
  });
  return {
    address,
    stop: async () => {
      await worker.terminate();
    },
  };
}

async function main(options: Options): Promise<void> {
  const server = await serveTokenService((call, callback) => {
    if (call.request.clientId.startsWith('hang')) return;
    setTimeout(() => callback(null, { accessToken: `token-${call.request.clientId}`, tokenType: 'Bearer', expiresIn: 60, refreshIn: 30, faultDomain: 'backup' }), options.answerAfterMs);
  });
  parentPort!.postMessage({ address: server.address });
}

if (!isMainThread && parentPort !== null) void main(workerData as Options);
