/** The relay transport (the default): many token calls to a domain share long-lived TokenRelayService streams. */
import { DomainCallSpans } from './domain-call-span.js';
import { bearerSource, cancelledByCaller, type BackendCallOptions, type BackendReply, type TokenBackend } from '../routing/token-backend.js';
import { DirectCalls, type RelayBackendOptions } from './relay-direct-calls.js';
import { RelayStream } from './relay-stream.js';
import type { TokenMethod } from '../pass-through.js';

/**
 * Requests larger than this go as calls of their own: one relay stream carries many calls, and a
 * message the domain refuses for its size would end the stream for all of them.
 */
export const MAX_RELAYED_BYTES = 32 * 1024;

/**
 * {@link TokenBackend} over TokenRelayService: the calls to a domain share a few long-lived
 * streams (one per connection), so a call costs the gateway and the domain one message each way
 * rather than an HTTP/2 stream and a server call. Faults look the same to the failover loop as
 * with calls of their own: a dead connection fails every waiting call as UNAVAILABLE at once, a
 * hung domain lets each call run into its own deadline. A domain without the relay (it answers
 * UNIMPLEMENTED) and requests over {@link MAX_RELAYED_BYTES} get calls of their own through
 * {@link DirectCalls}.
 */
export class RelayTokenBackend implements TokenBackend {
  private readonly streams: RelayStream[];
  private readonly direct: DirectCalls;
  private next = 0;
  private relayed = true;

  constructor(
    readonly name: string,
    readonly address: string,
    options: RelayBackendOptions = {},
  ) {
    // One set of connections: relay streams and calls of their own share them.
    this.direct = new DirectCalls(name, address, options);
    const spans = new DomainCallSpans(address, { 'authmesh.relayed': true });
    this.streams = this.direct.connections.map(
      (connection) =>
        new RelayStream(
          name,
          connection,
          bearerSource(options.bearerToken),
          () => {
            this.relayed = false;
          },
          spans,
        ),
    );
  }

  /** False once the domain answered that it has no relay: calls then go one by one. */
  get relaying(): boolean {
    return this.relayed;
  }

  call(method: TokenMethod, requestBytes: Buffer, options: BackendCallOptions): Promise<BackendReply> {
    if (!this.relayed || requestBytes.length > MAX_RELAYED_BYTES) return this.direct.call(method, requestBytes, options);
    if (options.signal?.aborted === true) return Promise.reject(cancelledByCaller());
    const stream = this.streams[this.next]!;
    this.next = (this.next + 1) % this.streams.length;
    return stream.call(method, requestBytes, options, () => this.direct.call(method, requestBytes, options));
  }

  close(): void {
    for (const s of this.streams) s.close();
    this.direct.close();
  }
}
