import { Metadata, status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { StorageServiceService, type ReadBlobRequest, type ReadBlobResponse } from '../../gen/authmesh/storage/v1/storage.js';
import { REASON_KEY, type ServiceBinding } from '../../lib/grpc/index.js';
import { VerifierError, type TokenVerifier } from '../../verifier/index.js';

export interface StorageServiceOptions {
  verifier: TokenVerifier;
  /** Role a caller needs. */
  role: string;
  /** Called for every refused or failed call, for logs. */
  onRefused?: (code: string, message: string) => void;
}

const BEARER = /^Bearer ([A-Za-z0-9_.-]+)$/;

/** The wire status for a verifier error: no key set is a fault of ours, anything else the caller's. */
function statusOf(err: VerifierError): status {
  if (err.code === 'ERR_JWKS_UNAVAILABLE') return status.UNAVAILABLE;
  return err.code === 'ERR_TOKEN_ROLE_MISSING' ? status.PERMISSION_DENIED : status.UNAUTHENTICATED;
}

/** StorageService: every call needs a bearer token for this resource carrying `role`. */
export function storageService(options: StorageServiceOptions): ServiceBinding {
  const readBlob = (call: ServerUnaryCall<ReadBlobRequest, ReadBlobResponse>, callback: sendUnaryData<ReadBlobResponse>): void => {
    const header = String(call.metadata.get('authorization')[0] ?? '');
    const m = BEARER.exec(header);
    const refuse = (code: status, reason: string, message: string): void => {
      options.onRefused?.(reason, message);
      const trailers = new Metadata();
      trailers.set('www-authenticate', `Bearer error="${code === status.PERMISSION_DENIED ? 'insufficient_scope' : 'invalid_token'}"`);
      trailers.set(REASON_KEY, reason);
      callback({ code, details: message, metadata: trailers });
    };
    if (m === null) return refuse(status.UNAUTHENTICATED, 'ERR_NO_TOKEN', 'a bearer token is required');
    options.verifier.verify(m[1]!, { requiredRoles: [options.role] }).then(
      (verified) => {
        const name = call.request.name === '' ? 'hello.txt' : call.request.name;
        callback(null, {
          name,
          content: Buffer.from(`contents of ${name}\n`),
          callerClientId: verified.clientId,
          tokenFaultDomain: verified.faultDomain,
        });
      },
      (err: unknown) => {
        if (err instanceof VerifierError) return refuse(statusOf(err), err.code, err.message);
        refuse(status.INTERNAL, 'ERR_INTERNAL', 'internal error');
      },
    );
  };
  return { definition: StorageServiceService, implementation: { readBlob }, name: 'authmesh.storage.v1.StorageService' };
}
