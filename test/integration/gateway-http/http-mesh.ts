import { freePort } from '../../support/free-port.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { webcrypto } from 'node:crypto';
import { Agent, fetch as undiciFetch } from 'undici';
import { keyIdOf } from '../../../lib/token/index.js';
import { RESOURCE, TestMesh, type TestWorkload } from '../../support/mesh-harness.js';

/** A workload that authenticates with a client secret. */
export interface SecretWorkload {
  clientId: string;
  secret: string;
}

/** The mesh with the eastus gateway's HTTPS front, and what a client needs to reach it. */
export interface HttpMesh {
  mesh: TestMesh;
  /** Issuer base URL shared by global, regional and the gateway: the gateway's HTTPS URL. */
  base: string;
  tenantId: string;
  /** `<base>/<tenant>/v2.0`, what discovery starts from. */
  issuer: string;
  tokenUrl: string;
  certWorkload: TestWorkload;
  secretWorkload: SecretWorkload;
  /** Fetch that trusts the gateway's development CA (and nothing else extra). */
  fetch: typeof fetch;
  close(): Promise<void>;
}

export const SCOPE = `${RESOURCE}/.default`;

export { freePort };

/** The WebCrypto form of a workload's key and its kid, as OAuth libraries take it. */
export async function cryptoKeyOf(w: TestWorkload): Promise<{ key: webcrypto.CryptoKey; kid: string }> {
  const der = w.privateKey.export({ format: 'der', type: 'pkcs8' });
  const key = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  return { key, kid: await keyIdOf(w.privateKey) };
}

/**
 * Starts global, regional-eastus and gateway-eastus as real processes, all with
 * `--issuer https://127.0.0.1:<gateway https port>`, and registers a certificate workload and a
 * secret workload, both with a role on {@link RESOURCE}. `env` is added to every process's environment.
 */
export async function startHttpMesh(env: Record<string, string> = {}): Promise<HttpMesh> {
  const mesh = new TestMesh();
  mesh.env = { ...mesh.env, ...env };
  try {
    const port = await freePort();
    const base = `https://127.0.0.1:${port}`;
    await mesh.startGlobal(['--issuer', base]);
    const certWorkload = await mesh.addWorkload('http-cert-worker');
    const tenantId = certWorkload.tenantId;
    const { clientId } = await mesh.adminCall<{ clientId: string }>((c) => (m, o, cb) => c.createApp({ tenantId, name: 'http-secret-worker' }, m, o, cb));
    const { secret } = await mesh.adminCall<{ secret: string }>((c) => (m, o, cb) => c.addSecretCredential({ tenantId, clientId, lifetimeSeconds: 0 }, m, o, cb));
    await mesh.adminCall((c) => (m, o, cb) => c.grantRole({ tenantId, clientId, resource: RESOURCE, role: 'Blob.Read' }, m, o, cb));
    await mesh.startRegional('eastus', ['--issuer', base]);
    await mesh.startGateway('eastus', ['--http-listen', `127.0.0.1:${port}`, '--issuer', base, '--data-dir', path.join(mesh.dir, 'gateway-eastus'), '--status-token-file', path.join(mesh.dir, 'global', 'mesh-token')]);
    const ca = readFileSync(path.join(mesh.dir, 'gateway-eastus', 'tls', 'ca.pem'), 'utf8');
    const agent = new Agent({ connect: { ca } });
    const trusted = ((input: Parameters<typeof undiciFetch>[0], init?: Parameters<typeof undiciFetch>[1]) =>
      undiciFetch(input, { ...init, dispatcher: agent })) as unknown as typeof fetch;
    return {
      mesh,
      base,
      tenantId,
      issuer: `${base}/${tenantId}/v2.0`,
      tokenUrl: `${base}/${tenantId}/oauth2/v2.0/token`,
      certWorkload,
      secretWorkload: { clientId, secret },
      fetch: trusted,
      async close() {
        await agent.close();
        await mesh.stop();
      },
    };
  } catch (error) {
    await mesh.stop();
    throw error;
  }
}
