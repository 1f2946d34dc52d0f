import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { AdmissionControl } from '../../../lib/admission/index.js';
import { ConfigError } from '../../../lib/config/index.js';
import { FaultInjector, checkFaultInjection } from '../../../lib/fault/index.js';
import { parseGlobalConfig } from '../../../services/global/config.js';

describe('FaultInjector', () => {
  it('serves every call unchanged when no fault is set', async () => {
    const slept: number[] = [];
    const f = new FaultInjector({ sleep: async (ms) => void slept.push(ms), random: () => 0 });
    assert.equal(await f.apply(), undefined);
    assert.deepEqual(slept, []);
  });

  it('adds the latency and fails the configured fraction with the status and reason fault-injected', async () => {
    const slept: number[] = [];
    let r = 0.1;
    const f = new FaultInjector({ sleep: async (ms) => void slept.push(ms), random: () => r });
    f.set({ latencyMs: 2000, errorRate: 0.5, errorCode: status.RESOURCE_EXHAUSTED });
    const failed = await f.apply();
    assert.equal(failed?.code, status.RESOURCE_EXHAUSTED);
    assert.equal(failed?.metadata?.get('authmesh-reason')[0], 'fault-injected');
    r = 0.9;
    assert.equal(await f.apply(), undefined);
    assert.deepEqual(slept, [2000, 2000]);
    f.clear();
    assert.deepEqual(f.current(), { latencyMs: 0, errorRate: 0, errorCode: status.UNAVAILABLE });
  });

  it('rejects faults outside their bounds', () => {
    const f = new FaultInjector();
    assert.throws(() => f.set({ latencyMs: 600_000 }), RangeError);
    assert.throws(() => f.set({ errorRate: 1.5 }), RangeError);
    assert.throws(() => f.set({ errorCode: 0 }), RangeError);
  });
});

describe('fault injection config', () => {
  it('is off unless enabled, and refused when NODE_ENV=production', () => {
    assert.equal(parseGlobalConfig([], {})['fault-injection'], false);
    assert.equal(parseGlobalConfig(['--fault-injection'], {})['fault-injection'], true);
    assert.throws(() => parseGlobalConfig(['--fault-injection'], { NODE_ENV: 'production' }), ConfigError);
    assert.throws(() => parseGlobalConfig([], { AUTHMESH_FAULT_INJECTION: 'true', NODE_ENV: 'production' }), ConfigError);
    assert.doesNotThrow(() => checkFaultInjection(false, { NODE_ENV: 'production' }));
  });
});

describe('AdmissionControl', () => {
  it('admits up to the limit, queues up to the queue bound and refuses the rest at once', async () => {
    const a = new AdmissionControl({ maxConcurrent: 2, maxQueue: 1, maxQueueWaitMs: 10_000 });
    const r1 = await a.enter();
    const r2 = await a.enter();
    assert.ok(r1 && r2);
    const queued = a.enter();
    assert.equal(await a.enter(), undefined, 'queue full: refused');
    assert.deepEqual(a.stats(), { active: 2, queued: 1, refused: 1 });
    r1();
    r1(); // a second release is harmless
    const r3 = await queued;
    assert.ok(r3, 'the queued call got the released slot');
    assert.deepEqual(a.stats(), { active: 2, queued: 0, refused: 1 });
    r2();
    r3();
    assert.equal(a.stats().active, 0);
  });

  it('refuses a queued call once it has waited its limit', async () => {
    const a = new AdmissionControl({ maxConcurrent: 1, maxQueue: 5, maxQueueWaitMs: 0 });
    const held = await a.enter();
    assert.equal(await a.enter(), undefined);
    assert.equal(a.stats().queued, 0);
    held!();
  });
});
