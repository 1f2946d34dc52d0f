/**
 * CPU of issueToken per token in one process, away from the mesh's noise:
 *   node dist/bench/issue-token-probe.js [--tokens 20000] [--rounds 3] [--no-cache]
 * A fresh ES256 assertion per call (signed before the timed window) against an in-memory directory,
 * with the assertion cache as regional has it (or none with --no-cache). Prints CPU µs per token
 * (process.cpuUsage) per round, and the crypto floor of the same machine: ES256 sign and verify
 * one-shots with node:crypto.
 */
import { randomUUID, sign, verify, generateKeyPairSync } from 'node:crypto';
import { ManualClock } from '../lib/clock/index.js';
import { AssertionPolicy, ASSERTION_TYPE, DEFAULT_ISSUER, generateSigningKeyPem, issueToken, TokenSigner, VerifiedAssertionCache, type IssueContext } from '../lib/token/index.js';
import { demoWorkload } from '../test/support/memory-directory.js';

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function main(argv: string[]): Promise<void> {
  const arg = (name: string, dflt: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1]! : dflt;
  };
  const tokens = Number(arg('tokens', '20000'));
  const w = await demoWorkload();
  const clock = new ManualClock(Date.now());
  const signer = await TokenSigner.fromPem(generateSigningKeyPem(), 'regional-eastus');
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: w.keyId })).toString('base64url');
  const aud = `${DEFAULT_ISSUER}/${w.tenantId}/oauth2/v2.0/token`;
  for (let round = 1; round <= Number(arg('rounds', '3')); round++) {
    const ctx: IssueContext = {
      directory: w.directory, signer, issuer: DEFAULT_ISSUER, lifetimeSeconds: 3600, refreshRatio: 0.5, clock, assertions: new AssertionPolicy(),
      ...(argv.includes('--no-cache') ? {} : { assertionCache: new VerifiedAssertionCache() }),
    };
    const now = Math.floor(clock.now() / 1000);
    const assertions: string[] = [];
    for (let i = 0; i < tokens; i++) {
      const input = `${header}.${Buffer.from(JSON.stringify({ iss: w.clientId, sub: w.clientId, aud, iat: now, nbf: now, exp: now + 600, jti: randomUUID() })).toString('base64url')}`;
      assertions.push(`${input}.${sign('sha256', Buffer.from(input), { key: w.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`);
    }
    const req = { tenantId: w.tenantId, clientId: w.clientId, scope: `${w.resource}/.default`, clientAssertionType: ASSERTION_TYPE, clientSecret: '' };
    // 64 in flight, as the cold path's callers are.
    const c0 = cpuUs();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next < tokens) await issueToken({ ...req, clientAssertion: assertions[next++]! }, ctx);
    }));
    const cpu = cpuUs() - c0;
    const wall = performance.now() - t0;
    console.log(`round ${round}: ${(cpu / tokens).toFixed(1)} µs CPU per token (all threads), ${Math.round(tokens / (wall / 1000))} tokens/s, ${(100 * cpu / 1000 / wall).toFixed(0)} % of a core`);
  }
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const data = Buffer.from('x'.repeat(400));
  const sig = sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  let c = cpuUs();
  for (let i = 0; i < 5000; i++) sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const signUs = (cpuUs() - c) / 5000;
  c = cpuUs();
  for (let i = 0; i < 5000; i++) verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig);
  console.log(`floor: ES256 sign ${signUs.toFixed(1)} µs, verify ${((cpuUs() - c) / 5000).toFixed(1)} µs (node:crypto, CPU)`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
