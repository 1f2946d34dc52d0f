/** The token service the gateway passes through untouched: its name, methods and byte-for-byte service definition. */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { TokenServiceService } from '../gen/authmesh/token/v1/token.js';

/** Fully qualified name of the token service, for grpc.health.v1 and reflection. */
export const TOKEN_SERVICE_NAME = 'authmesh.token.v1.TokenService';

/** The token service methods the gateway forwards, by their grpc-js (lower camel) name. */
export type TokenMethod = 'acquireToken' | 'getJwks';

export const TOKEN_METHODS: readonly TokenMethod[] = ['acquireToken', 'getJwks'];

const identity = (bytes: Buffer): Buffer => bytes;

type PassThroughMethod = MethodDefinition<Buffer, Buffer>;

function passThrough(method: TokenMethod): PassThroughMethod {
  const original = TokenServiceService[method];
  return {
    path: original.path,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

/**
 * TokenService with identity serializers, for the gateway's server and its clients alike: the
 * request bytes a caller sent are forwarded as they are, and the response bytes a domain sent are
 * returned as they are. The gateway never decodes or re-encodes a token message.
 */
export const PassThroughTokenService = {
  acquireToken: passThrough('acquireToken'),
  getJwks: passThrough('getJwks'),
} as const satisfies ServiceDefinition;

/** The `/package.Service/Method` path of a token method. */
export const methodPath = (method: TokenMethod): string => PassThroughTokenService[method].path;

/** The method's name on the wire (`AcquireToken`, `GetJwks`), from its path. */
export const wireMethodName = (method: TokenMethod): string => methodPath(method).slice(methodPath(method).lastIndexOf('/') + 1);
