/**
 * V8 flags every mesh process starts with: the local mesh (`make run-mesh`), the test and bench
 * harness, and the container image (as NODE_OPTIONS in the Dockerfile, which a test keeps equal).
 *
 * `--max-semi-space-size=8` caps the young generation at 16 MB instead of V8's 32 MB. A service's
 * old generation is small (regional holds about 16 MB of live objects, its identity table lives
 * outside the heap), and V8 starts incremental marking whenever the room left below the old
 * generation's limit is smaller than the young generation. With 32 MB of young generation that
 * held after every full GC, so regional ran one mark-compact every 0.5–0.6 s under load, each
 * pausing it for 5–20 ms. Measured with `node dist/bench/tail.js --targets gateway --rates 1000
 * --node-flags --trace-gc`: 8 to 21 mark-compacts in a run without the cap, 0 or 1 with it.
 */
export const SERVICE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];
