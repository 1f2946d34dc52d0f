import { parentPort, workerData } from 'node:worker_threads';
import { frame } from '../lib/grpc/framing.js';
import { closedLoop, openLoop, RawUnaryClient, watchSender, type LoadJob, type LoadMessage } from './load-generator.js';
import { LeanUnaryClient } from './lean-client.js';
import { encodeAcquire, fromPortable, signFreshAssertion } from './requests.js';

/**
 * The sending side of the load generator as a worker thread (see `openLoopInWorker`): it owns the
 * HTTP/2 connections, the schedule and the histogram, on a heap holding little but the request
 * bytes, and posts samples back in batches and the result at the end.
 */

const BATCH = 1024;

/**
 * The framed request of call i: pre-encoded requests round robin (framed once, before sending
 * starts), or a fresh assertion signed and framed per call.
 */
function requestsOf(job: LoadJob): (i: number) => Buffer {
  const r = job.requests;
  if ('fresh' in r) {
    const signers = r.fresh.map(fromPortable);
    return (i) => {
      const s = signers[i % signers.length]!;
      return frame(encodeAcquire(s, signFreshAssertion(s)));
    };
  }
  const all = Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
  const requests = r.ends.map((end, k) => frame(all.subarray(k === 0 ? 0 : r.ends[k - 1]!, end)));
  return (i) => requests[i % requests.length]!;
}

async function run(job: LoadJob, post: (m: LoadMessage, transfer?: ArrayBuffer[]) => void): Promise<void> {
  const { target } = job;
  const Client = target.client === 'node' ? RawUnaryClient : LeanUnaryClient;
  const client = new Client(target.address, target.path, target.channels ?? 2, target.headers, target.timeoutMs);
  const errors: string[] = [];
  const request = requestsOf(job);
  const send = (i: number): Promise<boolean> => client.send(request(i), errors);

  let batch = new Float64Array(BATCH * 4);
  let filled = 0;
  const flush = (): void => {
    if (filled === 0) return;
    const data = filled === batch.length ? batch : batch.slice(0, filled);
    post({ type: 'samples', data }, [data.buffer as ArrayBuffer]);
    batch = new Float64Array(BATCH * 4);
    filled = 0;
  };
  const flusher = setInterval(flush, 100);
  const onSample = (at: number, ms: number, ok: boolean, late: number): void => {
    batch[filled] = at;
    batch[filled + 1] = ms;
    batch[filled + 2] = ok ? 1 : 0;
    batch[filled + 3] = late;
    filled += 4;
    if (filled === batch.length) flush();
  };

  try {
    await client.ready();
    // A paced open loop wakes on its due times and reports how late each call left; a timer of
    // the loop-delay monitor would wake the thread a thousand times more a second for the same.
    const pacer = job.open?.pacer ?? 'thread';
    const watch = watchSender(job.open === undefined || pacer === 'timer');
    const onStart = (at: number): void => {
      watch.window(at);
      post({ type: 'start', at: performance.timeOrigin + at });
    };
    let result;
    if (job.open !== undefined) result = await openLoop(send, { ...job.open, pacer, onStart, onSample: job.samples ? onSample : undefined }, errors);
    else if (job.closed !== undefined) result = await closedLoop(send, job.closed, errors);
    else throw new Error('load job names neither an open nor a closed loop');
    const sender = watch.stop();
    flush();
    post({ type: 'done', result: { ...result, sender } });
  } finally {
    clearInterval(flusher);
    client.close();
  }
}

const port = parentPort;
if (port === null) throw new Error('bench/load-worker.js runs as a worker thread (see openLoopInWorker)');
// A failure rejects, which ends the worker with an error event the caller turns into a rejection.
void run(workerData as LoadJob, (m, transfer) => port.postMessage(m, transfer));
