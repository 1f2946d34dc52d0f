import { credentials, makeGenericClientConstructor, type ChannelCredentials } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { meshChannelOptions, meshTarget } from './mesh-tls.js';

const HealthClient = makeGenericClientConstructor(healthService, 'Health');
type CheckFn = (req: { service: string }, opts: { deadline: number }, cb: (err: Error | null, res?: { status: string }) => void) => void;

export interface WaitForServingOptions {
  /** Default 15 s. */
  timeoutMs?: number;
  /** grpc.health.v1 service name; '' (the default) is the whole server. */
  service?: string;
  /** Default plaintext. */
  channelCredentials?: ChannelCredentials;
  /** Checked before every poll; throw from it to give up early (say, the process exited). */
  stillStarting?: () => void;
}

/** Polls grpc.health.v1 Check until `address` answers SERVING; throws after the timeout. */
export async function waitForServing(address: string, options: WaitForServingOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const creds = options.channelCredentials ?? credentials.createInsecure();
  const client = new HealthClient(meshTarget(address), creds, meshChannelOptions(address, creds));
  const check = (client as unknown as { check: CheckFn }).check.bind(client);
  const until = Date.now() + timeoutMs;
  try {
    for (;;) {
      options.stillStarting?.();
      const status = await new Promise<string | undefined>((resolve) => {
        check({ service: options.service ?? '' }, { deadline: Date.now() + 1000 }, (err, res) => resolve(err ? undefined : res?.status));
      });
      if (status === 'SERVING') return;
      if (Date.now() > until) throw new Error(`${address} not SERVING after ${timeoutMs} ms (last: ${status ?? 'no answer'})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    client.close();
  }
}
