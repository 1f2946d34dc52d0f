import assert from 'node:assert/strict';
import { ConfigError } from '../../../lib/config/index.js';
import { parseGatewayConfig } from '../../../gateway/config.js';

describe('parseGatewayConfig', () => {
  it('builds the domains in priority order with defaults', () => {
    const c = parseGatewayConfig(['--region', 'eastus', '--regional', '127.0.0.1:50061'], {});
    assert.equal(c.listen, '127.0.0.1:50050');
    assert.deepEqual(c.domains, [
      { name: 'regional/eastus', address: '127.0.0.1:50061' },
      { name: 'global', address: '127.0.0.1:50051' },
    ]);
    assert.equal(c.defaultDeadlineMs, 5000);
    assert.equal(c.attemptTimeoutMs, 1000);
    assert.equal(c.breaker.volumeThreshold, 5);
    assert.equal(Object.isFrozen(c), true);
  });

  it('sends token calls over the relay unless told grpc-js, and refuses any other transport naming the two', () => {
    const args = ['--region', 'eastus', '--regional', '127.0.0.1:50061'];
    assert.equal(parseGatewayConfig(args, {}).transport, 'relay');
    assert.equal(parseGatewayConfig([...args, '--transport', 'grpc-js'], {}).transport, 'grpc-js');
    assert.equal(parseGatewayConfig(args, { AUTHMESH_TRANSPORT: 'grpc-js' }).transport, 'grpc-js');
    for (const unknown of ['quic', 'http2']) {
      assert.throws(
        () => parseGatewayConfig([...args, '--transport', unknown], {}),
        (err: unknown) => err instanceof ConfigError && /--transport/.test(err.message) && err.message.includes('relay, grpc-js') && err.message.includes(`"${unknown}"`),
      );
    }
  });

  it('refills the retry budget at retry-max-tokens / 20 a second unless told, and refuses a negative refill', () => {
    const args = ['--region', 'eastus', '--regional', '127.0.0.1:1'];
    assert.equal(parseGatewayConfig(args, {}).retry.refillPerSecond, 5);
    assert.equal(parseGatewayConfig([...args, '--retry-max-tokens', '40'], {}).retry.refillPerSecond, 2);
    assert.equal(parseGatewayConfig([...args, '--retry-refill', '0'], {}).retry.refillPerSecond, 0);
    assert.throws(() => parseGatewayConfig([...args, '--retry-refill', '-1'], {}), /retry-refill/);
  });

  it('bounds the public front by default, takes each bound from a flag, and refuses bounds out of range', () => {
    const args = ['--region', 'eastus', '--regional', '127.0.0.1:50061'];
    assert.deepEqual(parseGatewayConfig(args, {}).frontLimits, { maxStreamsPerConnection: 100, maxSessionMemoryMb: 32, maxBufferedBytes: 64 * 1024 * 1024, requestBodyTimeoutMs: 5000 });
    const c = parseGatewayConfig([...args, '--max-streams-per-connection', '8', '--max-session-memory-mb', '4', '--max-buffered-request-bytes', '1048576', '--request-body-timeout', '2s'], {});
    assert.deepEqual(c.frontLimits, { maxStreamsPerConnection: 8, maxSessionMemoryMb: 4, maxBufferedBytes: 1_048_576, requestBodyTimeoutMs: 2000 });
    for (const bad of [['--max-streams-per-connection', '0'], ['--max-session-memory-mb', '0'], ['--max-buffered-request-bytes', '100'], ['--request-body-timeout', '0s']]) {
      assert.throws(() => parseGatewayConfig([...args, ...bad], {}), (e: ConfigError) => e instanceof ConfigError && e.message.includes(bad[0]!.slice(2)), bad.join(' '));
    }
  });

  it('adds backup when its address is given, also from the environment', () => {
    const c = parseGatewayConfig(['--region', 'westus', '--regional=127.0.0.1:50161'], { AUTHMESH_BACKUP: '127.0.0.1:50071', AUTHMESH_ATTEMPT_TIMEOUT: '250ms' });
    assert.deepEqual(c.domains.map((d) => d.name), ['regional/westus', 'global', 'backup']);
    assert.equal(c.attemptTimeoutMs, 250);
  });

  it('lists every problem: missing region and regional, volume threshold 0, bad address', () => {
    assert.throws(
      () => parseGatewayConfig(['--breaker-volume-threshold', '0', '--global', 'nowhere'], {}),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.problems.length, 4, e.message);
        assert.match(e.message, /--region/);
        assert.match(e.message, /--regional/);
        assert.match(e.message, /--breaker-volume-threshold/);
        assert.match(e.message, /--global/);
        return true;
      },
    );
  });

  it('refuses an attempt timeout longer than the default deadline, and a window the buckets do not divide', () => {
    assert.throws(
      () => parseGatewayConfig(['--region', 'eastus', '--regional', '127.0.0.1:1', '--attempt-timeout', '10s', '--breaker-window', '1001ms'], {}),
      /attempt-timeout[\s\S]*|rollingCountTimeout/,
    );
  });

  it('refuses production mode without TLS on the public gRPC port or with a plaintext HTTP front, and accepts it with both on TLS', () => {
    const mesh = { AUTHMESH_MODE: 'production', AUTHMESH_MESH_CA: 'ca.pem', AUTHMESH_MESH_CERT: 'gw.pem', AUTHMESH_MESH_KEY: 'gw-key.pem' };
    const base = ['--region', 'eastus', '--regional', '127.0.0.1:1'];
    assert.throws(() => parseGatewayConfig(base, mesh), /production mode requires TLS on the public gRPC port/);
    assert.throws(
      () => parseGatewayConfig([...base, '--grpc-tls', '--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--http-listen', '127.0.0.1:0', '--http-plaintext'], mesh),
      /production mode refuses --http-plaintext/,
    );
    const c = parseGatewayConfig([...base, '--grpc-tls', '--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--http-listen', '127.0.0.1:0'], mesh);
    assert.deepEqual(c.grpcTls, { certFile: 'c.pem', keyFile: 'k.pem' });
    assert.equal(parseGatewayConfig(base, {}).grpcTls, undefined, 'development mode keeps plaintext available');
  });
});
