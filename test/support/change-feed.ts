import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { DirectoryServiceClient, type WatchResponse } from '../../gen/authmesh/directory/v1/directory.js';
import { bearer } from '../../lib/grpc/index.js';

/** Every revision global's change feed holds, read with a watch from 0 until it reaches the head. */
export async function feedRevisions(address: string, meshToken: string, timeoutMs = 10_000, channelCredentials = credentials.createInsecure()): Promise<{ revisions: number[]; head: number }> {
  const client = new DirectoryServiceClient(address, channelCredentials);
  try {
    return await new Promise((resolve, reject) => {
      const revisions: number[] = [];
      const stream = client.watch({ fromRevision: 0 }, bearer(meshToken));
      const timer = setTimeout(() => reject(new Error('watch did not catch up')), timeoutMs);
      stream.on('data', (m: WatchResponse) => {
        if (m.identity || m.tenant || m.signingKeys || m.identityRemoved) revisions.push(m.revision);
        else if (m.revision === m.headRevision) {
          clearTimeout(timer);
          stream.cancel();
          resolve({ revisions, head: m.headRevision });
        }
      });
      stream.on('error', (e: ServiceError) => {
        if (e.code !== status.CANCELLED) reject(e);
      });
    });
  } finally {
    client.close();
  }
}
