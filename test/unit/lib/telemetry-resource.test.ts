import assert from 'node:assert/strict';
import { envDetector, hostDetector, osDetector } from '@opentelemetry/resources';
import { processDetectorWithoutArgs, processResource, resourceDetectors } from '../../../lib/telemetry/resource.js';

describe('telemetry resource', () => {
  it('detects env, host and process unless OTEL_NODE_RESOURCE_DETECTORS names others', () => {
    assert.deepEqual(resourceDetectors({}), [envDetector, hostDetector, processDetectorWithoutArgs]);
    assert.deepEqual(resourceDetectors({ OTEL_NODE_RESOURCE_DETECTORS: 'none' }), []);
    assert.deepEqual(resourceDetectors({ OTEL_NODE_RESOURCE_DETECTORS: 'os, env,bogus' }), [osDetector, envDetector]);
  });

  it('leaves the command line out of the process attributes', () => {
    const attributes = processDetectorWithoutArgs.detect().attributes ?? {};
    assert.equal(attributes['process.pid'], process.pid);
    assert.equal('process.command_args' in attributes, false);
  });

  it("keeps the service's own service.name when no detector names one", () => {
    const resource = processResource('authmesh-regional-eastus', { OTEL_NODE_RESOURCE_DETECTORS: 'process' });
    assert.equal(resource.attributes['service.name'], 'authmesh-regional-eastus');
    assert.equal(resource.attributes['telemetry.sdk.language'], 'nodejs');
  });
});
