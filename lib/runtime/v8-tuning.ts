import v8 from 'node:v8';

/**
 * V8 settings every mesh service applies as its first import (gateway, regional, global,
 * backup), so they hold however the process is started: `make run-mesh`, the test harness, the
 * container image or a unit file. They are set here rather than as node flags because NODE_OPTIONS
 * refuses them.
 *
 * `--no-allocation-site-pretenuring`: V8 starts allocating the objects of an allocation site
 * straight in the old generation once most of them survive a scavenge. Under load the objects of
 * a call in flight do survive one (a forwarded call lives a few ms, a scavenge comes every 40 ms
 * or so), so after 20–30 s at saturation the gateway's per-call objects were pretenured: garbage in
 * the old generation, incremental marking every second, scavenges three times dearer, and the
 * gateway's CPU per forwarded call went from about 30 to 45–70 µs and stayed there. Without
 * pretenuring it stays at 26–32 µs (`bench/findings.md`, "The gateway after half a minute at
 * saturation").
 */
export const SERVICE_V8_FLAGS: readonly string[] = ['--no-allocation-site-pretenuring'];

for (const flag of SERVICE_V8_FLAGS) v8.setFlagsFromString(flag);
