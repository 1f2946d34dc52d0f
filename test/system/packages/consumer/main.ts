// A strict TypeScript program that uses @authmesh/client and @authmesh/verifier as installed from
// their tarballs: it gets a token from a running mesh, verifies it, and checks that a forged one
// is refused. Compiled against the packages' own .d.ts files.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server, type CallCredentials, type ServerInterceptor } from '@grpc/grpc-js';
import {
  azureTokenCredential, CertificateCredential, grpcCallCredentials, MeshUnavailableError,
  type AccessToken, type AzureAccessToken, type ClientErrorCode,
} from '@authmesh/client';
import {
  bearerMiddleware, gatewayJwksSource, TokenVerifier, verifierInterceptor, VerifierError,
  type VerifiedToken, type VerifierErrorCode,
} from '@authmesh/verifier';

async function main(): Promise<void> {
  const [tenantId, clientId, keyFile, endpoint, resource] = process.argv.slice(2) as [string, string, string, string, string];
  const scope = `${resource}/.default`;
  const credential = new CertificateCredential(tenantId, clientId, readFileSync(keyFile, 'utf8'), { endpoints: [endpoint] });
  const token: AccessToken = await credential.getToken(scope, { deadline: Date.now() + 10_000 });
  const typesAreChecked = (): void => {
    // @ts-expect-error getToken takes a scope string: the package's types are real, not `any`
    void credential.getToken(42);
  };
  void typesAreChecked;

  const keys = gatewayJwksSource({ endpoints: [endpoint], tenantId });
  const verifier = new TokenVerifier({ keys, tenantId, audience: resource });
  const verified: VerifiedToken = await verifier.verify(token.token, { requiredRoles: ['Blob.Read'] });

  let forged: VerifierErrorCode | undefined;
  try {
    await verifier.verify(`${token.token.slice(0, -4)}${token.token.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`);
  } catch (err) {
    if (err instanceof VerifierError) forged = err.code;
  }

  // The glue types line up with grpc-js and Node's http without further casts.
  const callCredentials: CallCredentials = grpcCallCredentials(credential, scope);
  const interceptor: ServerInterceptor = verifierInterceptor(verifier, { requiredRoles: ['Blob.Read'] });
  const middleware: (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void = bearerMiddleware(verifier);
  const azure: AzureAccessToken = await azureTokenCredential(credential).getToken([scope]);
  const server = new Server({ interceptors: [interceptor] });
  const unavailable: ClientErrorCode = new MeshUnavailableError('x').code;

  console.log(JSON.stringify({
    clientId: verified.clientId, tenantId: verified.tenantId, roles: verified.roles, faultDomain: verified.faultDomain,
    forged, azureMatches: azure.token === token.token, glue: [typeof callCredentials.generateMetadata, typeof middleware, typeof server.bindAsync], unavailable,
  }));
  keys.close();
  credential.close();
  server.forceShutdown();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
