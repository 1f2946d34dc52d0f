import { Metadata, type CallOptions, type ServiceError } from '@grpc/grpc-js';

export interface UnaryOptions {
  metadata?: Metadata;
  /** Relative timeout in ms (default 5000). */
  timeoutMs?: number;
}

type Invoke<Res> = (
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (err: ServiceError | null, res: Res) => void,
) => unknown;

/** Promise form of a generated unary client method: `unary((m, o, cb) => client.x(req, m, o, cb))`. */
export function unary<Res>(invoke: Invoke<Res>, opts: UnaryOptions = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke(opts.metadata ?? new Metadata(), { deadline: Date.now() + (opts.timeoutMs ?? 5000) }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

/** Metadata carrying `authorization: Bearer <token>`. */
export function bearer(token: string): Metadata {
  const md = new Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}
