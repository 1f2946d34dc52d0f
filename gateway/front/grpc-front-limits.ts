/** What callers can make the public gRPC front hold, and the defaults. */

/** What one caller, or all of them together, can make the public front hold. */
export interface FrontLimits {
  /** Streams open at once on one connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). Default 100. */
  maxStreamsPerConnection: number;
  /** Answer bytes one connection may hold unsent (its caller not reading), MB: past it the connection is closed (GOAWAY ENHANCE_YOUR_CALM). Default 32. */
  maxSessionMemoryMb: number;
  /** Request bytes buffered over every unfinished token call; past it RESOURCE_EXHAUSTED. Default 64 MiB. */
  maxBufferedBytes: number;
  /** Time from a token call's headers to the end of its request body, ms; past it DEADLINE_EXCEEDED. Default 5000. */
  requestBodyTimeoutMs: number;
}

/** The defaults of {@link FrontLimits}. */
export const FRONT_LIMITS: Readonly<FrontLimits> = Object.freeze({
  maxStreamsPerConnection: 100,
  maxSessionMemoryMb: 32,
  maxBufferedBytes: 64 * 1024 * 1024,
  requestBodyTimeoutMs: 5_000,
});
